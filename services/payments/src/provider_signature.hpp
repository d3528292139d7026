#pragma once
#include <string>
#include <string_view>

namespace keel::payments {

/// The header that carries the payment provider's signature of a callback body.
inline constexpr const char* kProviderSignatureHeader = "X-Provider-Signature";

/// "sha256=" and the lowercase hex HMAC-SHA256 of `body` under `secret`
/// (PAYMENT_PROVIDER_SECRET): what the provider sends, over the exact body bytes.
std::string SignProviderBody(std::string_view secret, std::string_view body);

/// True when `signature` is SignProviderBody(secret, body), compared in constant time.
/// Always false with an empty secret (callbacks not configured).
bool VerifyProviderSignature(std::string_view secret, std::string_view body,
                             std::string_view signature);

}  // namespace keel::payments
