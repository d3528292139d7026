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

}  // namespace
}  // namespace keel::telemetry
