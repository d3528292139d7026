#include <gtest/gtest.h>

#include <keel/testing/env.hpp>

#include "settings.hpp"

namespace keel::alert_relay {
namespace {

std::map<std::string, std::string> Minimal() {
    return {{"OPS_BOT_TOKEN", "123456:secret-Token_x"}, {"OPS_CHAT_ID", "-1001234567890"}};
}

std::string ProblemsOf(std::map<std::string, std::string> env) {
    auto config = testing::EnvFrom(std::move(env));
    ReadSettings(config);
    try {
        config.Finish();
    } catch (const core::ConfigError& e) {
        return e.what();
    }
    return {};
}

TEST(Settings, Defaults) {
    auto config = testing::EnvFrom(Minimal());
    const auto s = ReadSettings(config);
    config.Finish();
    EXPECT_EQ(s.telegram.api_base, "https://api.telegram.org");
    EXPECT_EQ(s.chat_id, -1001234567890);
    EXPECT_TRUE(s.relay.threads.Empty());
    EXPECT_EQ(s.relay.send_attempts, 3);
    EXPECT_EQ(s.ledger.dedupe_ttl, std::chrono::hours(4));
    EXPECT_EQ(s.ledger.flap_window, std::chrono::hours(1));
    EXPECT_EQ(s.ledger.flap_max, 6);
}

TEST(Settings, ReadsThreadsAndLimits) {
    auto env = Minimal();
    env["ALERT_THREADS"] = "catalog=11,critical=2,default=1";
    env["ALERT_DEDUPE_TTL_S"] = "60";
    env["ALERT_FLAP_MAX"] = "2";
    auto config = testing::EnvFrom(env);
    const auto s = ReadSettings(config);
    config.Finish();
    EXPECT_EQ(s.relay.threads.For({{"service", "catalog"}}), 11);
    EXPECT_EQ(s.ledger.dedupe_ttl, std::chrono::seconds(60));
    EXPECT_EQ(s.ledger.flap_max, 2);
}

TEST(Settings, RefusesBadValuesWithAClearMessageAndNeverEchoesTheToken) {
    EXPECT_NE(ProblemsOf({}).find("OPS_BOT_TOKEN"), std::string::npos);
    EXPECT_NE(ProblemsOf({}).find("OPS_CHAT_ID"), std::string::npos);
    auto env = Minimal();
    env["ALERT_THREADS"] = "catalog=eleven";
    env["OPS_CHAT_ID"] = "0";
    env["OPS_BOT_TOKEN"] = "bad token!";
    env["TELEGRAM_API_BASE"] = "ftp://x";
    env["ALERT_DEDUPE_TTL_S"] = "0";
    const auto problems = ProblemsOf(env);
    EXPECT_NE(problems.find("ALERT_THREADS entry 'catalog=eleven' is not NAME=THREAD_ID"),
              std::string::npos)
        << problems;
    EXPECT_NE(problems.find("OPS_CHAT_ID must not be 0"), std::string::npos);
    EXPECT_NE(problems.find("OPS_BOT_TOKEN"), std::string::npos);
    EXPECT_NE(problems.find("TELEGRAM_API_BASE"), std::string::npos);
    EXPECT_NE(problems.find("ALERT_DEDUPE_TTL_S"), std::string::npos);
    EXPECT_EQ(problems.find("bad token!"), std::string::npos);
}

}  // namespace
}  // namespace keel::alert_relay
