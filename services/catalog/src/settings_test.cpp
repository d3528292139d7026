#include <gtest/gtest.h>

#include <keel/testing/env.hpp>

#include "settings.hpp"

namespace keel::catalog {
namespace {

TEST(Settings, DefaultsAndProblems) {
    auto config = testing::EnvFrom({{"AUTH_JWKS_URL", "http://127.0.0.1:1/jwks"}});
    const auto s = ReadSettings(config);
    EXPECT_NO_THROW(config.Finish());
    EXPECT_EQ(s.cache_ttl, std::chrono::seconds(300));
    EXPECT_EQ(s.tokens.jwks_url, "http://127.0.0.1:1/jwks");
    EXPECT_EQ(s.local_cache.max_entries, 10'000u);
    EXPECT_EQ(s.local_cache.max_bytes, std::size_t{32} << 20);
    EXPECT_EQ(s.local_cache.ttl, std::chrono::seconds(60));
    EXPECT_EQ(s.local_cache.stale_ttl, std::chrono::seconds(3600));

    auto off = testing::EnvFrom(
        {{"AUTH_JWKS_URL", "http://x/jwks"}, {"CATALOG_LOCAL_CACHE_ENTRIES", "0"}});
    EXPECT_EQ(ReadSettings(off).local_cache.max_entries, 0u);
    EXPECT_NO_THROW(off.Finish());
    auto negative =
        testing::EnvFrom({{"AUTH_JWKS_URL", "http://x/jwks"}, {"CATALOG_LOCAL_CACHE_TTL_S", "0"}});
    ReadSettings(negative);
    EXPECT_THROW(negative.Finish(), core::ConfigError);

    for (const char* bad : {"0", "86401", "5m"}) {
        auto malformed =
            testing::EnvFrom({{"AUTH_JWKS_URL", "http://x/jwks"}, {"CATALOG_CACHE_TTL_S", bad}});
        ReadSettings(malformed);
        try {
            malformed.Finish();
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const core::ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find("CATALOG_CACHE_TTL_S"), std::string::npos)
                << e.what();
        }
    }
}

}  // namespace
}  // namespace keel::catalog
