#pragma once
#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace keel::auth {

/// Authenticated encryption of small secrets kept at rest (auth's signing keys), under a
/// key that lives outside the database (an environment variable).
///
/// XChaCha20-Poly1305 (libsodium's IETF AEAD) with a random 192-bit nonce per Seal, so
/// nonces never need coordinating between instances. `context` (e.g. the row's id) is
/// bound as associated data: a sealed value copied to another row does not open there.
/// Sealed text is versioned: "v1:" + base64url(nonce || ciphertext || tag). Base64url
/// never contains ':', so sealed and legacy base64url plaintext are told apart.
///
/// The 256-bit key is BLAKE2b-256 (libsodium's generichash, personalised for this use)
/// of the key material, which must be random (e.g. `openssl rand -base64 32`): a hash is
/// not a password KDF. Not copyable; the key is wiped on destruction. Thread-safe (const).
class SecretBox final {
public:
    /// Fewest bytes of key material accepted.
    static constexpr std::size_t kMinKeyMaterial = 32;

    /// Throws std::invalid_argument (without echoing the material) when it is shorter
    /// than kMinKeyMaterial.
    explicit SecretBox(std::string_view key_material);
    ~SecretBox();
    SecretBox(const SecretBox&) = delete;
    SecretBox& operator=(const SecretBox&) = delete;

    std::string Seal(std::string_view plaintext, std::string_view context) const;
    /// The plaintext; nullopt when `sealed` is not in this format, was sealed under another
    /// key or context, or was altered.
    std::optional<std::string> Open(std::string_view sealed, std::string_view context) const;
    /// True when `text` has the sealed format's prefix (says nothing about the key).
    static bool IsSealed(std::string_view text);

private:
    std::array<unsigned char, 32> key_{};
};

}  // namespace keel::auth
