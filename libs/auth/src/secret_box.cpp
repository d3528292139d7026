// SecretBox: sealing of secrets at rest (see secret_box.hpp).
#include <keel/auth/crypto.hpp>
#include <keel/auth/secret_box.hpp>

#include <sodium.h>

#include <stdexcept>
#include <string>

namespace keel::auth {
namespace {

constexpr std::string_view kSealedPrefix = "v1:";
// BLAKE2b personalisation (16 bytes): a key derived for this purpose serves no other.
constexpr unsigned char kKeyPersonal[crypto_generichash_blake2b_PERSONALBYTES] = {
    'k', 'e', 'e', 'l', '-', 's', 'e', 'c', 'r', 'e', 't', 'b', 'o', 'x', '-', '1'};
constexpr unsigned char kKeySalt[crypto_generichash_blake2b_SALTBYTES] = {};

const unsigned char* Bytes(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

SecretBox::SecretBox(std::string_view key_material) {
    // sodium_init is idempotent and thread-safe; Seal's randombytes needs it.
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    if (key_material.size() < kMinKeyMaterial) {
        throw std::invalid_argument("key material shorter than " + std::to_string(kMinKeyMaterial) +
                                    " bytes");
    }
    static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32);
    crypto_generichash_blake2b_salt_personal(key_.data(), key_.size(), Bytes(key_material),
                                             key_material.size(), nullptr, 0, kKeySalt,
                                             kKeyPersonal);
}

SecretBox::~SecretBox() { sodium_memzero(key_.data(), key_.size()); }

bool SecretBox::IsSealed(std::string_view text) { return text.starts_with(kSealedPrefix); }

std::string SecretBox::Seal(std::string_view plaintext, std::string_view context) const {
    constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    std::string box(kNonce + plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
    auto* nonce = reinterpret_cast<unsigned char*>(box.data());
    randombytes_buf(nonce, kNonce);
    unsigned long long written = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonce, &written, Bytes(plaintext),
                                               plaintext.size(), Bytes(context), context.size(),
                                               nullptr, nonce, key_.data());
    box.resize(kNonce + written);
    return std::string(kSealedPrefix) + Base64UrlEncode(box);
}

std::optional<std::string> SecretBox::Open(std::string_view sealed,
                                           std::string_view context) const {
    constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    if (!IsSealed(sealed)) return std::nullopt;
    const auto box = Base64UrlDecode(sealed.substr(kSealedPrefix.size()));
    if (!box || box->size() < kNonce + crypto_aead_xchacha20poly1305_ietf_ABYTES) {
        return std::nullopt;
    }
    const auto* nonce = Bytes(*box);
    std::string plain(box->size() - kNonce - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
    unsigned long long written = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            reinterpret_cast<unsigned char*>(plain.data()), &written, nullptr, nonce + kNonce,
            box->size() - kNonce, Bytes(context), context.size(), nonce, key_.data()) != 0) {
        return std::nullopt;
    }
    plain.resize(written);
    return plain;
}

}  // namespace keel::auth
