#include "provider_signature.hpp"

#include <keel/auth/crypto.hpp>

namespace keel::payments {

std::string SignProviderBody(std::string_view secret, std::string_view body) {
    return "sha256=" + auth::HmacSha256Hex(secret, body);
}

bool VerifyProviderSignature(std::string_view secret, std::string_view body,
                             std::string_view signature) {
    if (secret.empty()) return false;
    return auth::ConstantTimeEquals(SignProviderBody(secret, body), signature);
}

}  // namespace keel::payments
