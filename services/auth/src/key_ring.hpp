#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include <keel/auth/jwt.hpp>
#include <keel/auth/secret_box.hpp>
#include <keel/pg/pool.hpp>

namespace keel::auth_service {

/// The signing keys, kept in auth's database so every instance signs with the same
/// key. The newest key signs; the two newest are published in the JWKS, so tokens
/// signed just before a rotation stay verifiable. Load() creates the first key, and
/// a new one when the newest is older than the rotation period (under an advisory
/// lock, so concurrent instances create one, not two). Thread-safe.
///
/// Private keys are sealed at rest with `sealer` (AUTH_KEY_ENCRYPTION_KEY, never in the
/// database; the kid is bound as associated data). Rows written in clear by an earlier
/// version are sealed by Load(), under the same lock, so once.
class KeyRing final {
public:
    KeyRing(std::shared_ptr<pg::Pool> pool, std::chrono::hours rotation,
            std::shared_ptr<const auth::SecretBox> sealer);

    /// Checks that the newest sealed key opens, seals rows still in clear, rotates when
    /// due, and reads the keys. Call at start and periodically. Throws std::runtime_error
    /// naming AUTH_KEY_ENCRYPTION_KEY when a key does not open (wrong key, or altered).
    Task<void> Load();
    auth::SigningKey Active() const;
    std::vector<auth::SigningKey> Published() const;
    auth::KeySet PublicKeys() const;

private:
    std::shared_ptr<pg::Pool> pool_;
    std::chrono::hours rotation_;
    std::shared_ptr<const auth::SecretBox> sealer_;
    mutable std::mutex mutex_;
    std::vector<auth::SigningKey> keys_;  // newest first
};

/// The sealer for signing keys from AUTH_KEY_ENCRYPTION_KEY's value; throws
/// core::ConfigError naming the variable (never its value) when it is too short.
std::shared_ptr<const auth::SecretBox> KeySealerFrom(const std::string& key_material);

}  // namespace keel::auth_service
