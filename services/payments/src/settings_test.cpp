#include <gtest/gtest.h>

#include <keel/testing/env.hpp>

#include "settings.hpp"

namespace keel::payments {
namespace {

TEST(Settings, DefaultsToUsd) {
    auto config = testing::EnvFrom({{"AUTH_JWKS_URL", "http://127.0.0.1:1/jwks"}});
    const auto s = ReadSettings(config);
    EXPECT_NO_THROW(config.Finish());
    EXPECT_NO_THROW(ThrowOnProblems(s));
    EXPECT_EQ(s.currency, "USD");
    EXPECT_EQ(s.tokens.jwks_url, "http://127.0.0.1:1/jwks");
    EXPECT_EQ(s.provider_secret, "");  // callbacks refused until it is set
}

TEST(Settings, ProviderSecretIsReadAndMustNotBeShort) {
    auto config = testing::EnvFrom(
        {{"AUTH_JWKS_URL", "http://x/jwks"}, {"PAYMENT_PROVIDER_SECRET", "0123456789abcdef0123"}});
    const auto s = ReadSettings(config);
    EXPECT_NO_THROW(ThrowOnProblems(s));
    EXPECT_EQ(s.provider_secret, "0123456789abcdef0123");
    auto short_one = testing::EnvFrom(
        {{"AUTH_JWKS_URL", "http://x/jwks"}, {"PAYMENT_PROVIDER_SECRET", "tooshort"}});
    try {
        ThrowOnProblems(ReadSettings(short_one));
        ADD_FAILURE() << "accepted a short secret";
    } catch (const core::ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("PAYMENT_PROVIDER_SECRET"), std::string::npos);
        EXPECT_EQ(std::string(e.what()).find("tooshort"), std::string::npos);  // never echoed
    }
}

TEST(Settings, RefusesACurrencyThatIsNotAnIsoCode) {
    for (const char* bad : {"usd", "US", "EURO", "U$D"}) {
        auto config =
            testing::EnvFrom({{"AUTH_JWKS_URL", "http://x/jwks"}, {"PAYMENTS_CURRENCY", bad}});
        const auto s = ReadSettings(config);
        try {
            ThrowOnProblems(s);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const core::ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find("PAYMENTS_CURRENCY"), std::string::npos)
                << e.what();
        }
    }
    auto eur = testing::EnvFrom({{"AUTH_JWKS_URL", "http://x/jwks"}, {"PAYMENTS_CURRENCY", "EUR"}});
    EXPECT_NO_THROW(ThrowOnProblems(ReadSettings(eur)));
}

}  // namespace
}  // namespace keel::payments
