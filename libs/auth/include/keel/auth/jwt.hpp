#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::auth {

/// An Ed25519 key pair for signing access tokens (JWS alg EdDSA, RFC 8037).
struct SigningKey {
    std::string kid;
    std::string public_key;  ///< 32 raw bytes
    std::string secret_key;  ///< 64 raw bytes (libsodium layout: seed + public key)

    static SigningKey Generate();
};

/// Public keys by `kid`.
using KeySet = std::map<std::string, std::string>;

/// The claims keel puts in an access token.
struct Claims {
    std::string subject;   ///< sub: user id
    std::string role;      ///< user | admin
    std::string issuer;    ///< iss
    std::string audience;  ///< aud
    std::string id;        ///< jti
    std::int64_t issued_at = 0;
    std::int64_t not_before = 0;
    std::int64_t expires_at = 0;
};

/// Signs `claims` as a compact JWS with header {"alg":"EdDSA","typ":"JWT","kid":...}.
std::string SignJwt(const Claims& claims, const SigningKey& key);

enum class JwtError {
    kNone,
    kMalformed,
    kAlgorithmNotAllowed,  ///< anything but EdDSA, including "none" (RFC 8725 §3.1)
    kUnknownKey,
    kBadSignature,
    kExpired,
    kNotYetValid,
    kWrongIssuer,
    kWrongAudience,
};
std::string_view Describe(JwtError error);

struct VerifyOptions {
    std::string issuer;
    std::string audience;
    std::chrono::seconds leeway{30};
    std::int64_t now = 0;  ///< Unix seconds; 0 means the system clock
};

struct Verified {
    std::optional<Claims> claims;
    JwtError error = JwtError::kNone;
    std::string kid;  ///< from the header, also on kUnknownKey (to refetch keys)
};

/// Verifies signature (algorithm pinned to EdDSA), then exp, nbf, iss and aud.
/// Pure function; thread-safe.
Verified VerifyJwt(std::string_view token, const KeySet& keys, const VerifyOptions& options);

/// A JWKS document ({"keys":[{"kty":"OKP","crv":"Ed25519",...}]}) for the public keys.
std::string ToJwks(const std::vector<SigningKey>& keys);
/// Reads the Ed25519 keys of a JWKS document; other key types are skipped.
std::optional<KeySet> ParseJwks(std::string_view json);

}  // namespace keel::auth
