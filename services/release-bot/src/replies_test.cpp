#include <gtest/gtest.h>

#include "replies.hpp"
#include "vm_rates.hpp"

namespace keel::release_bot {
namespace {

boost::json::value Json(std::string_view text) { return boost::json::parse(text); }

TEST(FormatStatus, OneLinePerServiceWithVersionReadinessAndErrors) {
    const auto ps = Json(R"({"phase":"running","services":{
        "postgres":{"replicas":[{"state":"running","health":"healthy"}]},
        "catalog":{"replicas":[
            {"state":"running","health":"healthy","version":"0123abcd4567","requests":900,"errors_5xx":9},
            {"state":"running","health":"starting","version":"89abcdef0123","requests":100,"errors_5xx":1}]},
        "orders":{"replicas":[{"state":"exited","health":"-"}]}}})");
    const auto text = FormatStatus(ps, {});
    EXPECT_NE(text.find("🟢 <b>postgres</b> 1/1 ready"), std::string::npos) << text;
    EXPECT_NE(text.find("🟡 <b>catalog</b> 1/2 ready · 0123abcd4567+89abcdef0123 · 5xx 1.0% of "
                        "1000 since start"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("🔴 <b>orders</b> 0/1 ready"), std::string::npos) << text;
}

TEST(FormatStatus, PrefersVictoriaMetricsRates) {
    const auto ps = Json(R"({"services":{"catalog":{"replicas":[
        {"state":"running","health":"healthy","version":"v1","requests":10,"errors_5xx":5}]}}})");
    const auto text = FormatStatus(ps, {{"catalog", 0.25}});
    EXPECT_NE(text.find("5xx 25.0% (5 min)"), std::string::npos) << text;
    EXPECT_EQ(text.find("since start"), std::string::npos) << text;
}

TEST(FormatStatus, SaysWhenThereIsNothingToShow) {
    EXPECT_EQ(FormatStatus(Json("null"), {}), "keel-stack gave no status");
    EXPECT_EQ(FormatStatus(Json(R"({"ok":true})"), {}), "keel-stack gave no status");
}

TEST(ReadRollOutcome, ReadsKeelStacksResult) {
    const auto o = ReadRollOutcome(Json(R"({"ok":false,"outcome":"rolled_back",
        "from":{"hash":"aaaa","commit":"0123abcd4567"},"to":{"hash":"bbbb","commit":"unknown"},
        "error":"not ready after 10s","replica":"catalog#1"})"));
    EXPECT_EQ(o.outcome, "rolled_back");
    EXPECT_EQ(o.from_version, "0123abcd4567 (binary aaaa)");
    EXPECT_EQ(o.to_version, "binary bbbb");
    EXPECT_EQ(o.detail, "catalog#1: not ready after 10s");
    EXPECT_EQ(ReadRollOutcome(Json("null")).outcome, "failed");
}

TEST(FormatOutcome, SaysWhatHappened) {
    RollOutcome o{"released", "v1", "v2", ""};
    EXPECT_EQ(FormatOutcome("release", "catalog", "@ann", o),
              "✅ Released <b>catalog</b>: v1 → v2 (by @ann)");
    o = {"rolled_back", "v1", "v2", "catalog#1: not ready after 10s"};
    EXPECT_EQ(
        FormatOutcome("release", "catalog", "@ann", o),
        "↩️ The release of <b>catalog</b> failed and was rolled back to v1: catalog#1: not "
        "ready after 10s (by @ann)");
    o = {"refused", "", "", "a release of catalog is already running"};
    EXPECT_NE(FormatOutcome("rollback", "catalog", "", o).find("⛔ The rollback of"),
              std::string::npos);
}

TEST(FormatHistory, ListsNewestFirstAndEscapes) {
    AuditEntry e;
    e.request.command = "release";
    e.request.service = "catalog";
    e.request.username = "a<b";
    e.outcome = "rolled_back";
    e.from_version = "v1";
    e.to_version = "v2";
    e.detail = "not ready";
    e.started_at = "2026-11-30T12:00:00Z";
    const auto text = FormatHistory({e});
    EXPECT_NE(text.find("2026-11-30T12:00:00Z release <b>catalog</b> rolled_back: v1 → v2 — "
                        "@a&lt;b (not ready)"),
              std::string::npos)
        << text;
    EXPECT_EQ(FormatHistory({}), "No releases yet.");
}

TEST(ParseVector, ReadsRatesByJob) {
    const auto rates = ParseVector(R"({"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"job":"catalog"},"value":[1700000000.1,"0.02"]},
        {"metric":{"job":"orders"},"value":[1700000000.1,"NaN"]},
        {"metric":{},"value":[1700000000.1,"1"]}]}})");
    EXPECT_EQ(rates.size(), 1u);
    EXPECT_DOUBLE_EQ(rates.at("catalog"), 0.02);
    EXPECT_TRUE(ParseVector("not json").empty());
}

}  // namespace
}  // namespace keel::release_bot
