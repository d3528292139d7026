#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "alert.hpp"

namespace keel::alert_relay {
namespace {

namespace json = boost::json;
using namespace std::chrono;

// Alertmanager 0.25's webhook, as it sends it (members the relay ignores included).
constexpr const char* kWebhook = R"({
  "version": "4", "groupKey": "{}:{alertname=\"ServiceDown\"}", "truncatedAlerts": 0,
  "status": "firing", "receiver": "alert-relay",
  "groupLabels": {"alertname": "ServiceDown"}, "commonLabels": {}, "commonAnnotations": {},
  "externalURL": "http://127.0.0.1:9093",
  "alerts": [
    {"status": "firing", "labels": {"alertname": "ServiceDown", "service": "catalog",
     "severity": "critical"}, "annotations": {"summary": "all catalog instances are down"},
     "startsAt": "2026-11-30T12:00:00.5Z", "endsAt": "0001-01-01T00:00:00Z",
     "generatorURL": "http://127.0.0.1:8880/vmalert/alert?group_id=1", "fingerprint": "4f2a9c1d0e7b3a65"},
    {"status": "resolved", "labels": {"alertname": "HighLatency"}, "annotations": {},
     "startsAt": "2026-11-30T14:00:00+02:00", "endsAt": "2026-11-30T12:05:00Z",
     "generatorURL": "", "fingerprint": "00aa"}
  ]})";

TEST(Webhook, ReadsAlertmanagersVersion4) {
    const auto parsed = ParseWebhook(json::parse(kWebhook).as_object());
    ASSERT_TRUE(parsed.problems.empty()) << parsed.problems.front().first;
    EXPECT_EQ(parsed.webhook.receiver, "alert-relay");
    ASSERT_EQ(parsed.webhook.alerts.size(), 2u);
    const auto& first = parsed.webhook.alerts[0];
    EXPECT_TRUE(first.Firing());
    EXPECT_EQ(first.Label("service"), "catalog");
    EXPECT_EQ(first.annotations.at("summary"), "all catalog instances are down");
    EXPECT_EQ(first.DedupeId(), "4f2a9c1d0e7b3a65:firing:1796040000500");
    auto same_instant = first;
    same_instant.starts_at = "2026-11-30T14:00:00.500000000+02:00";
    EXPECT_EQ(same_instant.DedupeId(), first.DedupeId());
    EXPECT_FALSE(parsed.webhook.alerts[1].Firing());
}

TEST(Webhook, ListsEveryProblem) {
    const auto body = json::parse(R"({"alerts":[
        {"status":"pending","fingerprint":"XYZ","labels":{"a":1},"startsAt":"yesterday"},
        "not an alert"]})");
    const auto parsed = ParseWebhook(body.as_object());
    std::vector<std::string> fields;
    fields.reserve(parsed.problems.size());
    for (const auto& p : parsed.problems) fields.push_back(p.first);
    EXPECT_EQ(fields,
              (std::vector<std::string>{"alerts[0].status", "alerts[0].fingerprint",
                                        "alerts[0].labels.a", "alerts[0].startsAt", "alerts[1]"}));
    EXPECT_EQ(ParseWebhook(json::object{}).problems.at(0).first, "alerts");
}

TEST(Time, ParsesRfc3339WithFractionsAndOffsets) {
    const auto noon = sys_days(2026y / November / 30) + 12h;
    EXPECT_EQ(ParseTime("2026-11-30T12:00:00Z"), noon);
    EXPECT_EQ(ParseTime("2026-11-30T12:00:00.250Z"), noon + 250ms);
    EXPECT_EQ(ParseTime("2026-11-30T14:30:00+02:30"), noon);
    EXPECT_EQ(ParseTime("2026-11-30T10:00:00-02:00"), noon);
    EXPECT_EQ(ParseTime("0001-01-01T00:00:00Z"), std::nullopt);  // Alertmanager's "unset"
    EXPECT_EQ(ParseTime("2026-02-30T12:00:00Z"), std::nullopt);
    EXPECT_EQ(ParseTime("2026-11-30 12:00:00"), std::nullopt);
    EXPECT_EQ(ParseTime("2026-11-30T12:00:00Zjunk"), std::nullopt);
}

}  // namespace
}  // namespace keel::alert_relay
