// The signing keys against a real PostgreSQL: shared by instances, rotated when due,
// sealed at rest with AUTH_KEY_ENCRYPTION_KEY.
#include <keel/auth/crypto.hpp>
#include <keel/core/config.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "key_ring.hpp"
#include "migrations.hpp"

namespace keel::auth_service {
namespace {

const std::string kMaterial = "test-key-encryption-key-0123456789abcdef";
const std::string kWrongMaterial = "another-key-encryption-key-0123456789abc";

std::shared_ptr<const auth::SecretBox> Sealer(const std::string& material = kMaterial) {
    return KeySealerFrom(material);
}

KEEL_CORO_TEST(KeyRing, SharesOneKeyAndRotatesWhenDue) {
    auto pool = co_await testing::MigratedPool("auth_keys", Migrations(), "auth");
    KeyRing a(pool, std::chrono::hours(24), Sealer());
    KeyRing b(pool, std::chrono::hours(24), Sealer());
    co_await a.Load();
    co_await b.Load();
    EXPECT_EQ(a.Active().kid, b.Active().kid);
    EXPECT_EQ(a.Active().secret_key, b.Active().secret_key);
    EXPECT_EQ(a.Published().size(), 1u);
    co_await pool->Execute("UPDATE signing_keys SET created_at = now() - interval '25 hours'");
    const auto old_kid = a.Active().kid;
    co_await a.Load();
    co_await b.Load();
    EXPECT_NE(a.Active().kid, old_kid);
    EXPECT_EQ(a.Active().kid, b.Active().kid);
    // The previous key stays published so tokens it signed keep verifying.
    EXPECT_EQ(b.PublicKeys().count(old_kid), 1u);
    auto count = co_await pool->Execute("SELECT count(*) FROM signing_keys");
    EXPECT_EQ(count.Int(0, 0), 2);
}

KEEL_CORO_TEST(KeyRing, PrivateKeysAreSealedInTheDatabase) {
    auto pool = co_await testing::MigratedPool("auth_keys_sealed", Migrations(), "auth");
    KeyRing ring(pool, std::chrono::hours(24), Sealer());
    co_await ring.Load();
    const auto key = ring.Active();
    EXPECT_EQ(key.secret_key.size(), 64u);  // Ed25519 secret key
    auto rows = co_await pool->Execute("SELECT secret_key, public_key FROM signing_keys");
    EXPECT_EQ(rows.Rows(), 1);
    if (rows.Rows() != 1) co_return;
    const std::string stored(rows.Text(0, 0));
    EXPECT_TRUE(stored.starts_with("v1:")) << stored;
    // Neither the bytes nor their base64url (the earlier format), nor its seed half, appear.
    EXPECT_EQ(stored.find(auth::Base64UrlEncode(key.secret_key)), std::string::npos);
    EXPECT_EQ(stored.find(auth::Base64UrlEncode(key.secret_key.substr(0, 32))), std::string::npos);
    EXPECT_EQ(stored.find(key.secret_key.substr(0, 16)), std::string::npos);
    const auto sealed = auth::Base64UrlDecode(stored.substr(3));
    EXPECT_TRUE(sealed && sealed->find(key.secret_key.substr(0, 16)) == std::string::npos);
    // The right key opens it (bound to its kid); the public key stays readable.
    EXPECT_EQ(Sealer()->Open(stored, key.kid), key.secret_key);
    EXPECT_EQ(Sealer()->Open(stored, "another-kid"), std::nullopt);
    EXPECT_EQ(auth::Base64UrlDecode(rows.Text(0, 1)), key.public_key);
}

KEEL_CORO_TEST(KeyRing, AWrongKeyFailsClearlyAndChangesNothing) {
    auto pool = co_await testing::MigratedPool("auth_keys_wrong", Migrations(), "auth");
    KeyRing right(pool, std::chrono::hours(24), Sealer());
    co_await right.Load();
    auto before = co_await pool->Execute("SELECT kid, secret_key FROM signing_keys");
    // Due for rotation: a wrong key must not add a key sealed under it either.
    co_await pool->Execute("UPDATE signing_keys SET created_at = now() - interval '25 hours'");
    KeyRing wrong(pool, std::chrono::hours(24), Sealer(kWrongMaterial));
    std::string error;
    try {
        co_await wrong.Load();
    } catch (const std::runtime_error& e) {
        error = e.what();
    }
    EXPECT_NE(error.find("AUTH_KEY_ENCRYPTION_KEY"), std::string::npos) << error;
    EXPECT_NE(error.find(std::string(before.Text(0, 0))), std::string::npos) << error;
    EXPECT_EQ(error.find(kWrongMaterial), std::string::npos);
    EXPECT_EQ(error.find(kMaterial), std::string::npos);
    auto after = co_await pool->Execute("SELECT kid, secret_key FROM signing_keys");
    EXPECT_EQ(after.Rows(), 1);
    EXPECT_EQ(after.Text(0, 1), before.Text(0, 1));
}

KEEL_CORO_TEST(KeyRing, ShortKeyMaterialIsAConfigErrorNamingTheVariable) {
    std::string error;
    try {
        KeySealerFrom("too-short-secret");
    } catch (const core::ConfigError& e) {
        error = e.what();
    }
    EXPECT_NE(error.find("AUTH_KEY_ENCRYPTION_KEY"), std::string::npos) << error;
    EXPECT_EQ(error.find("too-short-secret"), std::string::npos) << error;
    co_return;
}

// Keys written in clear by the previous version are sealed by the first Load, once.
KEEL_CORO_TEST(KeyRing, PlaintextRowsAreSealedOnce) {
    auto pool = co_await testing::MigratedPool("auth_keys_clear", Migrations(), "auth");
    const auto legacy = auth::SigningKey::Generate();
    const auto clear_text = auth::Base64UrlEncode(legacy.secret_key);
    co_await pool->Execute(
        "INSERT INTO signing_keys (kid, public_key, secret_key) VALUES ($1, $2, $3)", legacy.kid,
        auth::Base64UrlEncode(legacy.public_key), clear_text);
    KeyRing ring(pool, std::chrono::hours(24), Sealer());
    co_await ring.Load();
    EXPECT_EQ(ring.Active().kid, legacy.kid);  // not rotated: it is still young
    EXPECT_EQ(ring.Active().secret_key, legacy.secret_key);
    auto first =
        co_await pool->Execute("SELECT secret_key FROM signing_keys WHERE kid = $1", legacy.kid);
    const std::string sealed(first.Text(0, 0));
    EXPECT_TRUE(sealed.starts_with("v1:"));
    EXPECT_EQ(sealed.find(clear_text), std::string::npos);
    EXPECT_EQ(Sealer()->Open(sealed, legacy.kid), legacy.secret_key);
    // Another instance, and a later Load, find nothing left to seal: the row stays as is.
    KeyRing other(pool, std::chrono::hours(24), Sealer());
    co_await other.Load();
    co_await ring.Load();
    auto second =
        co_await pool->Execute("SELECT secret_key FROM signing_keys WHERE kid = $1", legacy.kid);
    EXPECT_EQ(second.Text(0, 0), sealed);
    EXPECT_EQ(other.Active().secret_key, legacy.secret_key);
}

}  // namespace
}  // namespace keel::auth_service
