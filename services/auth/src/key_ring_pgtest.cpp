// The signing keys against a real PostgreSQL: shared by instances, rotated when due.
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "key_ring.hpp"
#include "migrations.hpp"

namespace keel::auth_service {
namespace {

KEEL_CORO_TEST(KeyRing, SharesOneKeyAndRotatesWhenDue) {
    auto pool = co_await testing::MigratedPool("auth_keys", Migrations(), "auth");
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
