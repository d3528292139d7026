#include "key_ring.hpp"

#include <stdexcept>

#include <keel/auth/crypto.hpp>
#include <keel/core/config.hpp>
#include <keel/core/log.hpp>

namespace keel::auth_service {
namespace {

constexpr std::string_view kKeyVariable = "AUTH_KEY_ENCRYPTION_KEY";

std::runtime_error DoesNotOpen(const std::string& kid) {
    return std::runtime_error("signing key " + kid + " does not decrypt with " +
                              std::string(kKeyVariable) +
                              ": the variable holds another key than the one that sealed it, "
                              "or the row was altered");
}

}  // namespace

std::shared_ptr<const auth::SecretBox> KeySealerFrom(const std::string& key_material) {
    if (key_material.size() < auth::SecretBox::kMinKeyMaterial) {
        throw core::ConfigError({std::string(kKeyVariable) + " must hold at least " +
                                 std::to_string(auth::SecretBox::kMinKeyMaterial) +
                                 " bytes of random key material (e.g. openssl rand -base64 32)"});
    }
    return std::make_shared<const auth::SecretBox>(key_material);
}

KeyRing::KeyRing(std::shared_ptr<pg::Pool> pool, std::chrono::hours rotation,
                 std::shared_ptr<const auth::SecretBox> sealer)
    : pool_(std::move(pool)), rotation_(rotation), sealer_(std::move(sealer)) {}

constexpr std::string_view kRotationDueSql = R"(
SELECT NOT EXISTS (SELECT 1 FROM signing_keys WHERE created_at > now() - make_interval(hours => $1::int)))";
constexpr std::string_view kLockKeysSql =
    "SELECT pg_advisory_xact_lock(hashtext('auth-signing-keys'))";
constexpr std::string_view kInsertKeySql =
    "INSERT INTO signing_keys (kid, public_key, secret_key) VALUES ($1, $2, $3)";
constexpr std::string_view kNewestKeysSql =
    "SELECT kid, public_key, secret_key FROM signing_keys ORDER BY created_at DESC LIMIT 2";
// Sealed text starts with "v1:"; base64url (the clear format) never contains ':'.
constexpr std::string_view kNewestSealedSql =
    "SELECT kid, secret_key FROM signing_keys WHERE secret_key LIKE 'v1:%' "
    "ORDER BY created_at DESC LIMIT 1";
constexpr std::string_view kClearKeysSql =
    "SELECT kid, secret_key FROM signing_keys WHERE secret_key NOT LIKE 'v%:%'";
constexpr std::string_view kSealKeySql = "UPDATE signing_keys SET secret_key = $2 WHERE kid = $1";

namespace {

// Under the keys' lock. A wrong key must stop us before we seal or add anything with it,
// which would leave rows sealed under two keys.
Task<void> SealClearKeys(pg::Connection& c, const auth::SecretBox& sealer) {
    auto newest = co_await c.Execute(kNewestSealedSql);
    if (newest.Rows() > 0 && !sealer.Open(newest.Text(0, 1), newest.Text(0, 0))) {
        throw DoesNotOpen(std::string(newest.Text(0, 0)));
    }
    auto clear = co_await c.Execute(kClearKeysSql);
    for (int i = 0; i < clear.Rows(); ++i) {
        const std::string kid(clear.Text(i, 0));
        const auto secret = auth::Base64UrlDecode(clear.Text(i, 1));
        if (!secret) throw std::runtime_error("signing key " + kid + " is corrupt");
        co_await c.Execute(kSealKeySql, kid, sealer.Seal(*secret, kid));
        log::Info("signing key sealed at rest", {{"kid", kid}});
    }
}

}  // namespace

Task<void> KeyRing::Load() {
    const auto hours = static_cast<std::int64_t>(rotation_.count());
    auto sealer = sealer_;
    auto seal_and_rotate = [hours, sealer](pg::Connection& c) -> Task<void> {
        co_await c.Execute(kLockKeysSql);
        co_await SealClearKeys(c, *sealer);
        auto due = co_await c.Execute(kRotationDueSql, hours);
        if (!due.Bool(0, 0)) co_return;
        const auto key = auth::SigningKey::Generate();
        co_await c.Execute(kInsertKeySql, key.kid, auth::Base64UrlEncode(key.public_key),
                           sealer->Seal(key.secret_key, key.kid));
        log::Info("signing key created", {{"kid", key.kid}});
    };
    co_await pool_->Transaction(seal_and_rotate);
    auto rows = co_await pool_->Execute(kNewestKeysSql);
    std::vector<auth::SigningKey> keys;
    for (int i = 0; i < rows.Rows(); ++i) {
        auth::SigningKey key;
        key.kid = std::string(rows.Text(i, 0));
        auto pub = auth::Base64UrlDecode(rows.Text(i, 1));
        if (!pub) throw std::runtime_error("signing key " + key.kid + " is corrupt");
        auto sec = sealer_->Open(rows.Text(i, 2), key.kid);
        if (!sec) throw DoesNotOpen(key.kid);
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
