#include <keel/core/uuid.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "migrations.hpp"
#include "refresh_token_store.hpp"

namespace keel::auth_service {
namespace {

using Outcome = RefreshTokenStore::Outcome;

// A user row as UserStore writes it (without its event: no bus here).
Task<std::string> CreateUser(pg::Pool& pool, const std::string& email, const std::string& role) {
    const std::string id = Uuid::V7().ToString();
    co_await pool.Execute(
        "INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, 'hash', $3)", id, email,
        role);
    co_return id;
}

KEEL_CORO_TEST(RefreshTokens, RotateThenReuseRevokesTheFamily) {
    auto pool = co_await testing::MigratedPool("auth_refresh", Migrations(), "auth");
    const auto user_id = co_await CreateUser(*pool, "ann@example.com", "user");
    RefreshTokenStore store(pool, std::chrono::seconds(3600));

    const auto first = co_await store.Issue(user_id);
    const auto other_login = co_await store.Issue(user_id);
    auto rotated = co_await store.Rotate(first);
    EXPECT_EQ(rotated.outcome, Outcome::kRotated);
    EXPECT_EQ(rotated.user_id, user_id);
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
    auto pool = co_await testing::MigratedPool("auth_logout", Migrations(), "auth");
    const auto user_id = co_await CreateUser(*pool, "bob@example.com", "admin");
    RefreshTokenStore store(pool, std::chrono::seconds(3600));
    const auto token = co_await store.Issue(user_id);
    co_await store.Revoke(token);
    EXPECT_EQ((co_await store.Rotate(token)).outcome, Outcome::kRevoked);

    const auto old = co_await store.Issue(user_id);
    co_await pool->Execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'");
    EXPECT_EQ((co_await store.Rotate(old)).outcome, Outcome::kExpired);
}

}  // namespace
}  // namespace keel::auth_service
