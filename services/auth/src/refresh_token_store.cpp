#include "refresh_token_store.hpp"

#include <keel/auth/crypto.hpp>
#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

namespace keel::auth_service {

RefreshTokenStore::RefreshTokenStore(std::shared_ptr<pg::Pool> pool, std::chrono::seconds ttl)
    : pool_(std::move(pool)), ttl_(ttl) {}

constexpr std::string_view kInsertSql = R"(
INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at)
VALUES ($1, $2, $3, now() + make_interval(secs => $4::bigint)))";

Task<std::string> RefreshTokenStore::Issue(const std::string& user_id) {
    std::string token = auth::RandomToken(32);
    co_await pool_->Execute(kInsertSql, auth::Sha256Hex(token), Uuid::V7().ToString(), user_id,
                            static_cast<std::int64_t>(ttl_.count()));
    co_return token;
}

constexpr std::string_view kLockTokenSql = R"(
SELECT t.family_id, t.user_id, t.rotated_at IS NOT NULL, t.revoked_at IS NOT NULL, t.expires_at <= now(), u.role
FROM refresh_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_hash = $1
FOR UPDATE OF t)";
constexpr std::string_view kMarkRotatedSql =
    "UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1";
constexpr std::string_view kRevokeFamilySql =
    "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL";

Task<RefreshTokenStore::Rotation> RefreshTokenStore::Rotate(const std::string& token) {
    Rotation rotation;
    const std::string hash = auth::Sha256Hex(token);
    const auto ttl = static_cast<std::int64_t>(ttl_.count());
    auto rotate = [&](pg::Connection& c) -> Task<void> {
        auto row = co_await c.Execute(kLockTokenSql, hash);
        if (row.Rows() == 0) co_return;
        const std::string family(row.Text(0, 0));
        rotation.user_id = std::string(row.Text(0, 1));
        rotation.role = std::string(row.Text(0, 5));
        if (row.Bool(0, 3)) {
            rotation.outcome = Outcome::kRevoked;
        } else if (row.Bool(0, 2)) {
            // Reuse of a rotated token: revoke the family, and commit that.
            co_await c.Execute(kRevokeFamilySql, family);
            rotation.outcome = Outcome::kReuseDetected;
            log::Warn("refresh token reuse; family revoked",
                      {{"family_id", family}, {"user_id", rotation.user_id}});
        } else if (row.Bool(0, 4)) {
            rotation.outcome = Outcome::kExpired;
        } else {
            rotation.token = auth::RandomToken(32);
            co_await c.Execute(kMarkRotatedSql, hash);
            co_await c.Execute(kInsertSql, auth::Sha256Hex(rotation.token), family,
                               rotation.user_id, ttl);
            rotation.outcome = Outcome::kRotated;
        }
    };
    co_await pool_->Transaction(rotate);
    co_return rotation;
}

constexpr std::string_view kRevokeByTokenSql = R"(
UPDATE refresh_tokens SET revoked_at = now()
WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1) AND revoked_at IS NULL)";

Task<void> RefreshTokenStore::Revoke(const std::string& token) {
    co_await pool_->Execute(kRevokeByTokenSql, auth::Sha256Hex(token));
}

}  // namespace keel::auth_service
