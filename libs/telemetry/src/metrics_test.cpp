#include <keel/telemetry/metrics.hpp>

#include <gtest/gtest.h>

namespace keel::telemetry {
namespace {

TEST(Registry, RendersPrometheusTextFormat) {
    Registry r;
    r.GetCounter("reqs_total", "Requests.", {{"route", "/a/{id}"}, {"status", "200"}}).Inc(3);
    r.GetCounter("reqs_total", "Requests.", {{"route", "/a/{id}"}, {"status", "200"}}).Inc();
    r.GetGauge("temp", "Temperature.", {{"where", "a\"b\\c\nd"}}).Set(-4);
    auto& h = r.GetHistogram("lat_seconds", "Latency.", {}, {0.1, 1});
    h.Observe(0.05);
    h.Observe(0.5);
    h.Observe(5);
    const auto text = r.Render();
    EXPECT_NE(text.find("# TYPE reqs_total counter\n"), std::string::npos);
    EXPECT_NE(text.find("reqs_total{route=\"/a/{id}\",status=\"200\"} 4\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("temp{where=\"a\\\"b\\\\c\\nd\"} -4\n"), std::string::npos) << text;
    EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("lat_seconds_bucket{le=\"1\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos) << text;
    EXPECT_NE(text.find("lat_seconds_count 3\n"), std::string::npos) << text;
}

TEST(Registry, RefusesOneNameWithTwoTypes) {
    Registry r;
    r.GetCounter("x", "X.");
    EXPECT_THROW(r.GetGauge("x", "X."), std::logic_error);
}

TEST(Registry, RefusesLabelSetsPastTheLimit) {
    Registry r(3);
    for (int i = 0; i < 3; ++i)
        r.GetCounter("hits_total", "Hits.", {{"k", std::to_string(i)}}).Inc();
    const auto before = r.Render();
    // New label sets past the limit share one series that is never rendered...
    auto& over = r.GetCounter("hits_total", "Hits.", {{"k", "attacker-1"}});
    over.Inc();
    EXPECT_EQ(&over, &r.GetCounter("hits_total", "Hits.", {{"k", "attacker-2"}}));
    r.GetHistogram("lat_seconds", "Latency.", {{"k", "a"}}).Observe(1);
    for (int i = 0; i < 10; ++i)
        r.GetHistogram("lat_seconds", "Latency.", {{"k", std::to_string(i)}}).Observe(1);
    // ...while the ones that exist still work.
    r.GetCounter("hits_total", "Hits.", {{"k", "0"}}).Inc();
    const auto after = r.Render();
    EXPECT_EQ(after.find("attacker"), std::string::npos) << after;
    EXPECT_NE(after.find("hits_total{k=\"0\"} 2\n"), std::string::npos) << after;
    EXPECT_NE(after.find("keel_metrics_series_refused_total{metric=\"hits_total\"} 2\n"),
              std::string::npos)
        << after;
    EXPECT_NE(after.find("keel_metrics_series_refused_total{metric=\"lat_seconds\"} 8\n"),
              std::string::npos)
        << after;
    EXPECT_EQ(before.find("keel_metrics_series_refused_total"), std::string::npos);
}

}  // namespace
}  // namespace keel::telemetry
