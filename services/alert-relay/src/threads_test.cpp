#include <gtest/gtest.h>

#include "threads.hpp"

namespace keel::alert_relay {
namespace {

ThreadMap Parse(const std::string& text) {
    std::vector<std::string> problems;
    auto map = ThreadMap::Parse(text, problems);
    EXPECT_TRUE(problems.empty()) << problems.front();
    return map;
}

TEST(ThreadMap, ServiceWinsOverSeverityAndDefaultTakesTheRest) {
    const auto map = Parse("catalog=11, critical=2,default=1");
    EXPECT_EQ(map.For({{"service", "catalog"}, {"severity", "critical"}}), 11);
    EXPECT_EQ(map.For({{"service", "orders"}, {"severity", "critical"}}), 2);
    EXPECT_EQ(map.For({{"service", "orders"}, {"severity", "warning"}}), 1);
    EXPECT_EQ(map.For({}), 1);
}

TEST(ThreadMap, JobStandsInForAMissingServiceLabel) {
    const auto map = Parse("catalog=11");
    EXPECT_EQ(map.For({{"job", "catalog"}}), 11);
    EXPECT_EQ(map.For({{"service", "orders"}, {"job", "catalog"}}), std::nullopt);
}

TEST(ThreadMap, WithoutDefaultUnmatchedAlertsGoToTheChatItself) {
    const auto map = Parse("critical=2");
    EXPECT_EQ(map.For({{"severity", "warning"}}), std::nullopt);
    EXPECT_TRUE(Parse("").Empty());
    EXPECT_TRUE(Parse("  ").Empty());
}

TEST(ThreadMap, RefusesMalformedEntriesOneProblemEach) {
    std::vector<std::string> problems;
    const auto map = ThreadMap::Parse("catalog=11,Orders=3,x=0,y=abc,z,=4,a=1,a=2,,b=-5", problems);
    ASSERT_EQ(problems.size(), 8u);
    EXPECT_NE(problems[0].find("'Orders=3'"), std::string::npos);
    EXPECT_NE(problems[0].find("NAME=THREAD_ID"), std::string::npos);
    EXPECT_NE(problems[5].find("names 'a' twice"), std::string::npos);
    EXPECT_EQ(map.For({{"service", "catalog"}}), 11);  // the good entries stay
}

}  // namespace
}  // namespace keel::alert_relay
