#pragma once
#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include <keel/auth/jwt.hpp>
#include <keel/pg/pool.hpp>

namespace keel::auth_service {

/// The signing keys, kept in auth's database so every instance signs with the same
/// key. The newest key signs; the two newest are published in the JWKS, so tokens
/// signed just before a rotation stay verifiable. Load() creates the first key, and
/// a new one when the newest is older than the rotation period (under an advisory
/// lock, so concurrent instances create one, not two). Thread-safe.
class KeyRing final {
public:
    KeyRing(std::shared_ptr<pg::Pool> pool, std::chrono::hours rotation);

    /// Reads the keys (rotating when due). Call at start and periodically.
    Task<void> Load();
    auth::SigningKey Active() const;
    std::vector<auth::SigningKey> Published() const;
    auth::KeySet PublicKeys() const;

private:
    std::shared_ptr<pg::Pool> pool_;
    std::chrono::hours rotation_;
    mutable std::mutex mutex_;
    std::vector<auth::SigningKey> keys_;  // newest first
};

}  // namespace keel::auth_service
