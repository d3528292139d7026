#include <gtest/gtest.h>

#include "provider_signature.hpp"

namespace keel::payments {
namespace {

// RFC 4231 test case 2: a short key, as a shared secret may be.
TEST(ProviderSignature, IsHmacSha256AsRfc4231Computes) {
    EXPECT_EQ(SignProviderBody("Jefe", "what do ya want for nothing?"),
              "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(ProviderSignature, AcceptsOnlyTheSignatureOfTheseExactBytes) {
    const std::string secret = "a-shared-secret-of-some-length";
    const std::string body = R"({"top_up_id":"x","amount":500})";
    const auto signature = SignProviderBody(secret, body);
    EXPECT_TRUE(VerifyProviderSignature(secret, body, signature));
    EXPECT_FALSE(VerifyProviderSignature(secret, body + " ", signature));          // body changed
    EXPECT_FALSE(VerifyProviderSignature("another secret", body, signature));      // wrong key
    EXPECT_FALSE(VerifyProviderSignature(secret, body, signature.substr(7)));      // no prefix
    EXPECT_FALSE(VerifyProviderSignature(secret, body, signature.substr(0, 40)));  // truncated
    EXPECT_FALSE(VerifyProviderSignature(secret, body, ""));
    std::string flipped = signature;
    flipped.back() = flipped.back() == '0' ? '1' : '0';
    EXPECT_FALSE(VerifyProviderSignature(secret, body, flipped));
}

TEST(ProviderSignature, NothingVerifiesWithoutASecret) {
    EXPECT_FALSE(VerifyProviderSignature("", "{}", SignProviderBody("", "{}")));
}

}  // namespace
}  // namespace keel::payments
