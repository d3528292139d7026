#include <keel/auth/crypto.hpp>
#include <keel/auth/jwt.hpp>

#include <gtest/gtest.h>

namespace keel::auth {
namespace {

constexpr std::int64_t kNow = 1'800'000'000;

Claims MakeClaims() {
    Claims c;
    c.subject = "0190a0b0-0000-7000-8000-000000000001";
    c.role = "user";
    c.issuer = "keel-auth";
    c.audience = "keel";
    c.id = "jti-1";
    c.issued_at = kNow;
    c.not_before = kNow;
    c.expires_at = kNow + 900;
    return c;
}

VerifyOptions Options(std::int64_t now = kNow) {
    VerifyOptions o;
    o.issuer = "keel-auth";
    o.audience = "keel";
    o.now = now;
    return o;
}

class JwtTest : public ::testing::Test {
protected:
    SigningKey key = SigningKey::Generate();
    KeySet keys{{key.kid, key.public_key}};
};

TEST_F(JwtTest, RoundTrips) {
    const auto token = SignJwt(MakeClaims(), key);
    const auto v = VerifyJwt(token, keys, Options());
    ASSERT_TRUE(v.claims) << Describe(v.error);
    EXPECT_EQ(v.claims->subject, MakeClaims().subject);
    EXPECT_EQ(v.claims->role, "user");
}

TEST_F(JwtTest, RejectsTamperedPayload) {
    auto claims = MakeClaims();
    const auto token = SignJwt(claims, key);
    claims.role = "admin";
    const auto forged = SignJwt(claims, SigningKey::Generate());
    // Header and signature of the real token, payload of the forged one.
    const auto d1 = token.find('.'), d2 = token.rfind('.');
    const auto f1 = forged.find('.'), f2 = forged.rfind('.');
    const std::string mixed = token.substr(0, d1) + forged.substr(f1, f2 - f1) + token.substr(d2);
    EXPECT_EQ(VerifyJwt(mixed, keys, Options()).error, JwtError::kBadSignature);
}

TEST_F(JwtTest, RejectsAlgNoneAndOtherAlgorithms) {
    const auto payload = SignJwt(MakeClaims(), key);
    const auto body =
        payload.substr(payload.find('.') + 1, payload.rfind('.') - payload.find('.') - 1);
    for (const char* alg : {"none", "HS256", "RS256", "eddsa"}) {
        const std::string header =
            Base64UrlEncode(std::string(R"({"alg":")") + alg + R"(","kid":")" + key.kid + "\"}");
        EXPECT_EQ(VerifyJwt(header + "." + body + ".", keys, Options()).error,
                  JwtError::kAlgorithmNotAllowed)
            << alg;
    }
}

TEST_F(JwtTest, RejectsUnknownKidAndReportsIt) {
    const auto other = SigningKey::Generate();
    const auto v = VerifyJwt(SignJwt(MakeClaims(), other), keys, Options());
    EXPECT_EQ(v.error, JwtError::kUnknownKey);
    EXPECT_EQ(v.kid, other.kid);
}

TEST_F(JwtTest, ChecksTimeWithLeeway) {
    const auto token = SignJwt(MakeClaims(), key);
    EXPECT_TRUE(VerifyJwt(token, keys, Options(kNow + 900 + 29)).claims);
    EXPECT_EQ(VerifyJwt(token, keys, Options(kNow + 900 + 30)).error, JwtError::kExpired);
    EXPECT_TRUE(VerifyJwt(token, keys, Options(kNow - 29)).claims);
    EXPECT_EQ(VerifyJwt(token, keys, Options(kNow - 31)).error, JwtError::kNotYetValid);
}

TEST_F(JwtTest, ChecksIssuerAndAudience) {
    auto claims = MakeClaims();
    claims.issuer = "someone-else";
    EXPECT_EQ(VerifyJwt(SignJwt(claims, key), keys, Options()).error, JwtError::kWrongIssuer);
    claims = MakeClaims();
    claims.audience = "other-app";
    EXPECT_EQ(VerifyJwt(SignJwt(claims, key), keys, Options()).error, JwtError::kWrongAudience);
}

TEST_F(JwtTest, RejectsGarbage) {
    for (const char* junk : {"", "a.b", "a.b.c.d", "!!!.###.$$$", "eyJhbGciOiJFZERTQSJ9.e30."}) {
        EXPECT_NE(VerifyJwt(junk, keys, Options()).error, JwtError::kNone) << junk;
    }
}

TEST_F(JwtTest, JwksRoundTripsAndKeepsSeveralKeys) {
    const auto second = SigningKey::Generate();
    const auto parsed = ParseJwks(ToJwks({key, second}));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->size(), 2u);
    EXPECT_EQ(parsed->at(second.kid), second.public_key);
    EXPECT_TRUE(VerifyJwt(SignJwt(MakeClaims(), second), *parsed, Options()).claims);
    EXPECT_FALSE(ParseJwks("not json"));
}

TEST(Crypto, PasswordHashIsArgon2idAndVerifies) {
    const auto hash = HashPassword("correct horse battery staple");
    EXPECT_EQ(hash.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << hash;
    EXPECT_TRUE(VerifyPassword(hash, "correct horse battery staple"));
    EXPECT_FALSE(VerifyPassword(hash, "correct horse battery stapler"));
    EXPECT_FALSE(VerifyPassword("not a hash", "x"));
    EXPECT_NE(HashPassword("same"), HashPassword("same"));  // salted
}

TEST(Crypto, Base64UrlRoundTripsAndRejectsPadding) {
    const std::string bytes("\xff\xfe\x00\x01?>", 6);
    const auto encoded = Base64UrlEncode(bytes);
    EXPECT_EQ(encoded.find_first_of("+/="), std::string::npos);
    EXPECT_EQ(Base64UrlDecode(encoded), bytes);
    EXPECT_FALSE(Base64UrlDecode("ab=="));
    EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace keel::auth
