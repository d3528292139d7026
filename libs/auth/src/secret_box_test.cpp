#include <keel/auth/secret_box.hpp>

#include <gtest/gtest.h>

#include <stdexcept>

namespace keel::auth {
namespace {

const std::string kMaterial = "0123456789abcdef0123456789abcdef-test";
const std::string kOther = "fedcba9876543210fedcba9876543210-test";

TEST(SecretBox, OpensWhatItSealedAndHidesIt) {
    const SecretBox box(kMaterial);
    const std::string secret("private\0key bytes", 17);
    const auto sealed = box.Seal(secret, "kid-1");
    EXPECT_TRUE(SecretBox::IsSealed(sealed));
    EXPECT_TRUE(sealed.starts_with("v1:"));
    EXPECT_EQ(sealed.find("private"), std::string::npos);
    EXPECT_EQ(box.Open(sealed, "kid-1"), secret);
    // A fresh nonce each time: the same secret seals differently.
    EXPECT_NE(box.Seal(secret, "kid-1"), sealed);
}

TEST(SecretBox, RefusesAnotherKeyContextOrAlteredText) {
    const SecretBox box(kMaterial);
    const auto sealed = box.Seal("secret", "kid-1");
    EXPECT_EQ(SecretBox(kOther).Open(sealed, "kid-1"), std::nullopt);
    EXPECT_EQ(box.Open(sealed, "kid-2"), std::nullopt);
    std::string altered = sealed;
    altered[10] = altered[10] == 'A' ? 'B' : 'A';
    EXPECT_EQ(box.Open(altered, "kid-1"), std::nullopt);
    EXPECT_EQ(box.Open("v1:", "kid-1"), std::nullopt);
    EXPECT_EQ(box.Open("c2VjcmV0", "kid-1"), std::nullopt);  // legacy plaintext base64url
    EXPECT_FALSE(SecretBox::IsSealed("c2VjcmV0"));
}

TEST(SecretBox, RefusesShortKeyMaterialWithoutEchoingIt) {
    try {
        SecretBox box("short-secret-value");
        ADD_FAILURE() << "accepted 18 bytes of key material";
    } catch (const std::invalid_argument& e) {
        EXPECT_EQ(std::string(e.what()).find("short-secret-value"), std::string::npos);
    }
}

}  // namespace
}  // namespace keel::auth
