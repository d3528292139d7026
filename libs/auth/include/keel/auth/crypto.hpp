#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace keel::auth {

/// base64url without padding (RFC 4648 §5), as JOSE uses it.
std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

/// `bytes` cryptographically random bytes, base64url-encoded (opaque tokens).
std::string RandomToken(std::size_t bytes = 32);

/// SHA-256 of `text` as lowercase hex (refresh tokens are stored only as this).
std::string Sha256Hex(std::string_view text);

/// HMAC-SHA256 (RFC 2104) of `message` under `key` (any length) as lowercase hex:
/// signatures of webhooks such as the payment provider's callbacks.
std::string HmacSha256Hex(std::string_view key, std::string_view message);

/// Compares in time independent of where the inputs differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

/// argon2id with the OWASP minimum: 19 MiB memory, 2 iterations, 1 lane. Returns the
/// PHC string ($argon2id$v=19$m=19456,t=2,p=1$...) that embeds salt and parameters.
/// CPU-heavy (tens of ms): call it off the io threads.
std::string HashPassword(std::string_view password);
/// True when `password` matches `encoded`; false also for a malformed hash.
bool VerifyPassword(std::string_view encoded, std::string_view password);

}  // namespace keel::auth
