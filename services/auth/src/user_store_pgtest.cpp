// Identities against a real PostgreSQL (no bus running: nothing is published).
#include <keel/core/uuid.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "migrations.hpp"
#include "user_store.hpp"

namespace keel::auth_service {
namespace {

KEEL_CORO_TEST(UserStore, ATakenEmailCreatesNothingAndAdminsAreFound) {
    auto pool = co_await testing::MigratedPool("auth_users", Migrations(), "auth");
    // (Named first: GCC 12 destroys a temporary twice in a full-expression with co_await.)
    const auto executor = co_await asio::this_coro::executor;
    bus::BusSettings settings;
    auto bus = bus::Bus::Create(executor, pool, settings);
    bus->Publishes("auth.user_registered.v1");
    UserStore users(pool, bus);
    EXPECT_FALSE(co_await users.AnyAdmin());

    // An admin row as UserStore writes it, without its event.
    const auto id = Uuid::V7().ToString();
    co_await pool->Execute(
        "INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, 'hash', 'admin')", id,
        "bob@example.com");
    EXPECT_TRUE(co_await users.AnyAdmin());
    const auto found = co_await users.FindByEmail("bob@example.com");
    EXPECT_TRUE(found.has_value());
    if (found) {
        EXPECT_EQ(found->id, id);
        EXPECT_EQ(found->role, "admin");
    }
    EXPECT_FALSE((co_await users.FindByEmail("ann@example.com")).has_value());

    // A taken email creates nothing, and so emits nothing.
    const auto origin = bus->FromRequest("test", "", "test");
    EXPECT_FALSE((co_await users.Create("bob@example.com", "hash", "user", origin)).has_value());
}

}  // namespace
}  // namespace keel::auth_service
