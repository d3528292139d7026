#include <keel/auth/crypto.hpp>
#include <keel/auth/jwt.hpp>

#include <gtest/gtest.h>

#include <string>

namespace keel::auth {
namespace {

TEST(Base64Url, RoundTrips) {
    const std::string bytes("\x00\xfb\xff\x10?>", 6);
    EXPECT_EQ(Base64UrlEncode(bytes), "APv_ED8-");
    EXPECT_EQ(Base64UrlDecode("APv_ED8-"), bytes);
}

TEST(Base64Url, RefusesBytesOutsideTheAlphabet) {
    EXPECT_FALSE(Base64UrlDecode("APv+ED8/"));  // standard alphabet, not URL-safe
    EXPECT_FALSE(Base64UrlDecode("APv_ED8-="));
    EXPECT_FALSE(Base64UrlDecode("AP v_ED8-"));
    // libsodium 1.0.18 reads any byte from 0x80 up as '_'.
    EXPECT_FALSE(
        Base64UrlDecode("APv\xb5"
                        "ED8-"));
    EXPECT_FALSE(
        Base64UrlDecode("APv\xff"
                        "ED8-"));
}

// Found by fuzz/jwt: a signature with '_' spelt as a high byte still verified.
TEST(Base64Url, ASignatureHasOneSpelling) {
    const auto key = SigningKey::Generate();
    Claims claims;
    claims.subject = "u1";
    claims.issuer = "keel-auth";
    claims.audience = "keel";
    claims.expires_at = 1'800'000'900;
    VerifyOptions options;
    options.issuer = "keel-auth";
    options.audience = "keel";
    options.now = 1'800'000'000;
    const KeySet keys{{key.kid, key.public_key}};
    // Signatures are random-looking: sign until one has a '_' to respell.
    for (int i = 0; i < 200; ++i) {
        claims.id = "jti-" + std::to_string(i);
        std::string token = SignJwt(claims, key);
        const auto underscore = token.find('_', token.rfind('.'));
        if (underscore == std::string::npos) continue;
        ASSERT_EQ(VerifyJwt(token, keys, options).error, JwtError::kNone);
        token[underscore] = '\xb5';
        EXPECT_EQ(VerifyJwt(token, keys, options).error, JwtError::kBadSignature);
        return;
    }
    FAIL() << "no signature with '_' in 200 tokens";
}

}  // namespace
}  // namespace keel::auth
