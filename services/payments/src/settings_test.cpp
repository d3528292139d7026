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
