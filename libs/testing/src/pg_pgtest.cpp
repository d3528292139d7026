#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

namespace keel::testing {
namespace {

const pg::Migration kMigrations[] = {
    {1, "0001_items", "CREATE TABLE items (id int PRIMARY KEY);"},
    {2, "0002_names", "ALTER TABLE items ADD COLUMN name text;"},
};

KEEL_CORO_TEST(MigratedPool, GivesANewMigratedDatabase) {
    auto pool = co_await MigratedPool("testing_migrated", kMigrations, "lab");
    co_await pool->Execute("INSERT INTO items (id, name) VALUES (1, 'a')");
    auto applied = co_await pool->Execute("SELECT count(*) FROM keel_schema_migrations");
    EXPECT_EQ(applied.Int(0, 0), 2);
}

KEEL_CORO_TEST(MigratedPool, TakesThePoolsOptions) {
    pg::PoolOptions options;
    options.dsn = "replaced";
    options.max_size = 1;
    options.acquire_timeout = std::chrono::milliseconds(100);
    auto pool = co_await MigratedPool("testing_options", kMigrations, "lab", options);
    bool exhausted = false;
    {
        auto held = co_await pool->Acquire();
        try {
            co_await pool->Execute("SELECT 1");
        } catch (const pg::ConnectionError&) {
            exhausted = true;  // its one connection is held
        }
    }
    EXPECT_TRUE(exhausted);
    auto rows = co_await pool->Execute("SELECT count(*) FROM items");
    EXPECT_EQ(rows.Int(0, 0), 0);
}

KEEL_CORO_TEST(FreshPool, GivesAnEmptyDatabase) {
    auto pool = co_await FreshPool("testing_fresh");
    auto tables =
        co_await pool->Execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");
    EXPECT_EQ(tables.Int(0, 0), 0);
}

}  // namespace
}  // namespace keel::testing
