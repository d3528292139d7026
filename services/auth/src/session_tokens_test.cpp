#include <gtest/gtest.h>

#include <keel/core/uuid.hpp>

#include "session_tokens.hpp"

namespace keel::auth_service {
namespace {

TEST(SessionTokens, TheAccessTokenCarriesTheUserAndTheSettings) {
    Settings settings;
    settings.issuer = "keel-auth";
    settings.audience = "keel";
    settings.access_ttl = std::chrono::seconds(60);
    const auto key = auth::SigningKey::Generate();
    const auto tokens = MakeSessionTokens(settings, key, "user-1", "user", "refresh-1");
    EXPECT_EQ(tokens.refresh_token, "refresh-1");
    EXPECT_EQ(tokens.expires_in, std::chrono::seconds(60));

    auth::VerifyOptions options;
    options.issuer = "keel-auth";
    options.audience = "keel";
    const auth::KeySet keys = {{key.kid, key.public_key}};
    const auto verified = auth::VerifyJwt(tokens.access_token, keys, options);
    if (!verified.claims) {
        ADD_FAILURE() << auth::Describe(verified.error);
        return;
    }
    const auto& claims = *verified.claims;
    EXPECT_EQ(verified.kid, key.kid);
    EXPECT_EQ(claims.subject, "user-1");
    EXPECT_EQ(claims.role, "user");
    EXPECT_EQ(claims.not_before, claims.issued_at);
    EXPECT_EQ(claims.expires_at, claims.issued_at + 60);
    EXPECT_TRUE(Uuid::Parse(claims.id).has_value());
    // Another audience does not accept it.
    options.audience = "elsewhere";
    EXPECT_EQ(auth::VerifyJwt(tokens.access_token, keys, options).error,
              auth::JwtError::kWrongAudience);
}

}  // namespace
}  // namespace keel::auth_service
