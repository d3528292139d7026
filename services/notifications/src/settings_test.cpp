#include <gtest/gtest.h>

#include <keel/core/config.hpp>
#include <keel/testing/env.hpp>

#include "settings.hpp"

namespace keel::notifications {
namespace {

TEST(Settings, DefaultsAndProblems) {
    auto config = testing::EnvFrom(
        {{"AUTH_JWKS_URL", "http://127.0.0.1:1/jwks"}, {"TELEGRAM_BOT_TOKEN", "1:abc"}});
    const auto s = ReadSettings(config);
    EXPECT_NO_THROW(config.Finish());
    EXPECT_NO_THROW(ThrowOnProblems(s));
    EXPECT_EQ(s.telegram.api_base, "https://api.telegram.org");
    EXPECT_EQ(s.sender.batch, 20);
    EXPECT_EQ(s.tokens.verify.issuer, "keel-auth");
    EXPECT_EQ(s.tokens.jwks_url, "http://127.0.0.1:1/jwks");
    EXPECT_EQ(s.account_url, "");  // no polling, no links
    EXPECT_EQ(s.poll.long_poll, std::chrono::seconds(10));
    EXPECT_EQ(s.poll.lease, std::chrono::milliseconds(30'000));

    auto polling = testing::EnvFrom({{"AUTH_JWKS_URL", "http://x/jwks"},
                                     {"TELEGRAM_BOT_TOKEN", "1:abc"},
                                     {"ACCOUNT_URL", "http://127.0.0.1:8081/account/"},
                                     {"TELEGRAM_POLL_TIMEOUT_S", "20"},
                                     {"TELEGRAM_POLL_LEASE_MS", "40000"}});
    const auto p = ReadSettings(polling);
    EXPECT_NO_THROW(polling.Finish());
    EXPECT_EQ(p.account_url, "http://127.0.0.1:8081/account");
    EXPECT_EQ(p.poll.long_poll, std::chrono::seconds(20));
    // A lease shorter than a long poll could let two pollers overlap.
    auto short_lease = testing::EnvFrom({{"AUTH_JWKS_URL", "http://x/jwks"},
                                         {"TELEGRAM_BOT_TOKEN", "1:abc"},
                                         {"ACCOUNT_URL", "https://account"},
                                         {"TELEGRAM_POLL_LEASE_MS", "10000"}});
    ReadSettings(short_lease);
    try {
        short_lease.Finish();
        ADD_FAILURE() << "accepted a short lease and an https ACCOUNT_URL";
    } catch (const core::ConfigError& e) {
        EXPECT_EQ(e.Problems().size(), 2u);
    }

    auto missing = testing::EnvFrom({{"AUTH_JWKS_URL", "http://x/jwks"}});
    ReadSettings(missing);
    EXPECT_THROW(missing.Finish(), core::ConfigError);

    Settings bad = s;
    bad.telegram.api_base = "api.telegram.org";
    bad.telegram.bot_token = "1:abc/../x";
    try {
        ThrowOnProblems(bad);
        ADD_FAILURE() << "accepted a malformed base and token";
    } catch (const core::ConfigError& e) {
        EXPECT_EQ(e.Problems().size(), 2u);
        EXPECT_EQ(std::string(e.what()).find("1:abc"), std::string::npos);  // no token echoed
    }
}

}  // namespace
}  // namespace keel::notifications
