#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <keel/pg/pool.hpp>

namespace keel::auth_service {

/// Refresh tokens: opaque random strings given to the client, stored only as their
/// SHA-256. Each login starts a family; Rotate() retires the presented token and
/// issues its successor. A retired token presented again means it leaked (or the
/// client raced itself): the whole family is revoked (OAuth 2.0 Security BCP §4.14).
class RefreshTokenStore final {
public:
    RefreshTokenStore(std::shared_ptr<pg::Pool> pool, std::chrono::seconds ttl);

    /// A new token in a new family (login).
    Task<std::string> Issue(const std::string& user_id);

    enum class Outcome { kRotated, kUnknown, kExpired, kRevoked, kReuseDetected };
    struct Rotation {
        Outcome outcome = Outcome::kUnknown;
        std::string token;  ///< the successor, when kRotated
        std::string user_id;
        std::string role;
    };
    /// Rotates `token`; on reuse revokes its family (and commits that) before answering.
    Task<Rotation> Rotate(const std::string& token);
    /// Revokes the family of `token` (logout); unknown tokens are ignored.
    Task<void> Revoke(const std::string& token);

private:
    std::shared_ptr<pg::Pool> pool_;
    std::chrono::seconds ttl_;
};

}  // namespace keel::auth_service
