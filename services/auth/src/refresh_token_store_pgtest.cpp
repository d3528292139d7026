#include <keel/core/uuid.hpp>
#include <keel/pg/migrations.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/servers.hpp>

#include "key_ring.hpp"
#include "refresh_token_store.hpp"
#include "user_store.hpp"

namespace keel::auth_service {
std::span<const pg::Migration> Migrations();
namespace {

using Outcome = RefreshTokenStore::Outcome;

Task<std::shared_ptr<pg::Pool>> MigratedPool(const std::string& db) {
    pg::PoolOptions options;
    options.dsn = testing::PgServer::Shared().CreateDatabase(db);
    auto pool = pg::Pool::Create(co_await asio::this_coro::executor, options);
    co_await pg::Migrate(*pool, Migrations(), "auth");
    co_return pool;
}

// A user row as UserStore writes it (without its event: no bus here).
Task<std::optional<std::string>> CreateUser(pg::Pool& pool, const std::string& email,
                                            const std::string& role) {
    const std::string id = Uuid::V7().ToString();
    co_await pool.Execute(
        "INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, 'hash', $3)", id, email,
        role);
    co_return id;
}

KEEL_CORO_TEST(RefreshTokens, RotateThenReuseRevokesTheFamily) {
    auto pool = co_await MigratedPool("auth_refresh");
    auto user_id = co_await CreateUser(*pool, "ann@example.com", "user");
    EXPECT_TRUE(user_id.has_value());
    RefreshTokenStore store(pool, std::chrono::seconds(3600));

    const auto first = co_await store.Issue(*user_id);
    const auto other_login = co_await store.Issue(*user_id);
    auto rotated = co_await store.Rotate(first);
    EXPECT_EQ(rotated.outcome, Outcome::kRotated);
    EXPECT_EQ(rotated.user_id, *user_id);
    EXPECT_EQ(rotated.role, "user");
    EXPECT_NE(rotated.token, first);

    // The retired token comes back: reuse. The whole family goes, the successor too.
    EXPECT_EQ((co_await store.Rotate(first)).outcome, Outcome::kReuseDetected);
    EXPECT_EQ((co_await store.Rotate(rotated.token)).outcome, Outcome::kRevoked);
    // Another login's family is untouched.
    EXPECT_EQ((co_await store.Rotate(other_login)).outcome, Outcome::kRotated);
    EXPECT_EQ((co_await store.Rotate("never-issued")).outcome, Outcome::kUnknown);

    // Only hashes are stored.
    auto stored =
        co_await pool->Execute("SELECT count(*) FROM refresh_tokens WHERE token_hash = $1", first);
    EXPECT_EQ(stored.Int(0, 0), 0);
}

KEEL_CORO_TEST(RefreshTokens, LogoutRevokesAndExpiryIsEnforced) {
    auto pool = co_await MigratedPool("auth_logout");
    auto user_id = co_await CreateUser(*pool, "bob@example.com", "admin");
    RefreshTokenStore store(pool, std::chrono::seconds(3600));
    const auto token = co_await store.Issue(*user_id);
    co_await store.Revoke(token);
    EXPECT_EQ((co_await store.Rotate(token)).outcome, Outcome::kRevoked);

    const auto old = co_await store.Issue(*user_id);
    co_await pool->Execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'");
    EXPECT_EQ((co_await store.Rotate(old)).outcome, Outcome::kExpired);
    // A taken email creates nothing (and so emits nothing: the bus is never started here).
    // (Named first: GCC 12 destroys a temporary twice in a full-expression with co_await.)
    const auto executor = co_await asio::this_coro::executor;
    bus::BusSettings settings;
    auto bus = bus::Bus::Create(executor, pool, settings);
    bus->Publishes("auth.user_registered.v1");
    UserStore users(pool, bus);
    const auto origin = bus->FromRequest("test", "", "test");
    EXPECT_FALSE((co_await users.Create("bob@example.com", "hash", "user", origin)).has_value());
    EXPECT_TRUE(co_await users.AnyAdmin());
}

KEEL_CORO_TEST(KeyRing, SharesOneKeyAndRotatesWhenDue) {
    auto pool = co_await MigratedPool("auth_keys");
    KeyRing a(pool, std::chrono::hours(24));
    KeyRing b(pool, std::chrono::hours(24));
    co_await a.Load();
    co_await b.Load();
    EXPECT_EQ(a.Active().kid, b.Active().kid);
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

}  // namespace
}  // namespace keel::auth_service
