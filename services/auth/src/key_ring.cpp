#include "key_ring.hpp"

#include <stdexcept>

#include <keel/auth/crypto.hpp>
#include <keel/core/log.hpp>

namespace keel::auth_service {

KeyRing::KeyRing(std::shared_ptr<pg::Pool> pool, std::chrono::hours rotation)
    : pool_(std::move(pool)), rotation_(rotation) {}

constexpr std::string_view kRotationDueSql = R"(
SELECT NOT EXISTS (SELECT 1 FROM signing_keys WHERE created_at > now() - make_interval(hours => $1::int)))";
constexpr std::string_view kLockKeysSql =
    "SELECT pg_advisory_xact_lock(hashtext('auth-signing-keys'))";
constexpr std::string_view kInsertKeySql =
    "INSERT INTO signing_keys (kid, public_key, secret_key) VALUES ($1, $2, $3)";
constexpr std::string_view kNewestKeysSql =
    "SELECT kid, public_key, secret_key FROM signing_keys ORDER BY created_at DESC LIMIT 2";

Task<void> KeyRing::Load() {
    const auto hours = static_cast<std::int64_t>(rotation_.count());
    auto rotate_if_due = [hours](pg::Connection& c) -> Task<void> {
        co_await c.Execute(kLockKeysSql);
        auto due = co_await c.Execute(kRotationDueSql, hours);
        if (!due.Bool(0, 0)) co_return;
        const auto key = auth::SigningKey::Generate();
        co_await c.Execute(kInsertKeySql, key.kid, auth::Base64UrlEncode(key.public_key),
                           auth::Base64UrlEncode(key.secret_key));
        log::Info("signing key created", {{"kid", key.kid}});
    };
    co_await pool_->Transaction(rotate_if_due);
    auto rows = co_await pool_->Execute(kNewestKeysSql);
    std::vector<auth::SigningKey> keys;
    for (int i = 0; i < rows.Rows(); ++i) {
        auth::SigningKey key;
        key.kid = std::string(rows.Text(i, 0));
        auto pub = auth::Base64UrlDecode(rows.Text(i, 1));
        auto sec = auth::Base64UrlDecode(rows.Text(i, 2));
        if (!pub || !sec) throw std::runtime_error("signing key " + key.kid + " is corrupt");
        key.public_key = std::move(*pub);
        key.secret_key = std::move(*sec);
        keys.push_back(std::move(key));
    }
    if (keys.empty()) throw std::runtime_error("no signing key");
    std::lock_guard lock(mutex_);
    keys_ = std::move(keys);
}

auth::SigningKey KeyRing::Active() const {
    std::lock_guard lock(mutex_);
    return keys_.front();
}

std::vector<auth::SigningKey> KeyRing::Published() const {
    std::lock_guard lock(mutex_);
    return keys_;
}

auth::KeySet KeyRing::PublicKeys() const {
    std::lock_guard lock(mutex_);
    auth::KeySet set;
    for (const auto& key : keys_) set[key.kid] = key.public_key;
    return set;
}

}  // namespace keel::auth_service
