#include <keel/pg/migrations.hpp>
#include <keel/pg/pool.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/servers.hpp>

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace keel::pg {
namespace {

// A pool of `size` connections on a new database, waiting at most 2 s for one.
Task<std::shared_ptr<Pool>> MakePool(const std::string& db, std::size_t size = 4) {
    PoolOptions options;
    options.max_size = size;
    options.acquire_timeout = std::chrono::milliseconds(2000);
    co_return co_await testing::FreshPool(db, options);
}

KEEL_CORO_TEST(PgPool, ExecutesWithParametersAndNulls) {
    auto pool = co_await MakePool("pool_params");
    co_await pool->Execute("CREATE TABLE t (id bigint PRIMARY KEY, name text)");
    auto inserted = co_await pool->Execute("INSERT INTO t VALUES ($1, $2), ($3, $4)", 1,
                                           "it's; DROP TABLE t; --", 2, Null());
    EXPECT_EQ(inserted.Affected(), 2);
    auto rows = co_await pool->Execute("SELECT id, name FROM t ORDER BY id");
    EXPECT_EQ(rows.Rows(), 2);
    EXPECT_EQ(rows.Int(0, 0), 1);
    EXPECT_EQ(rows.Text(0, 1), "it's; DROP TABLE t; --");
    EXPECT_TRUE(rows.IsNull(1, 1));
    EXPECT_FALSE(rows.OptionalText(1, 1).has_value());
}

KEEL_CORO_TEST(PgPool, ReportsSqlStateOfErrors) {
    auto pool = co_await MakePool("pool_errors");
    co_await pool->Execute("CREATE TABLE u (k text PRIMARY KEY)");
    co_await pool->Execute("INSERT INTO u VALUES ($1)", "a");
    bool unique = false;
    try {
        co_await pool->Execute("INSERT INTO u VALUES ($1)", "a");
    } catch (const QueryError& e) {
        unique = e.IsUniqueViolation();
    }
    EXPECT_TRUE(unique);
    // The connection that saw the error is still usable.
    auto rows = co_await pool->Execute("SELECT count(*) FROM u");
    EXPECT_EQ(rows.Int(0, 0), 1);
}

KEEL_CORO_TEST(PgPool, TransactionCommitsOrRollsBack) {
    auto pool = co_await MakePool("pool_tx");
    co_await pool->Execute("CREATE TABLE acc (id int PRIMARY KEY, balance int NOT NULL)");
    co_await pool->Transaction(
        [](Connection& c) -> Task<void> { co_await c.Execute("INSERT INTO acc VALUES (1, 100)"); });
    bool threw = false;
    try {
        co_await pool->Transaction([](Connection& c) -> Task<void> {
            co_await c.Execute("UPDATE acc SET balance = 0 WHERE id = 1");
            throw std::runtime_error("business rule failed");
        });
    } catch (const std::runtime_error&) {
        threw = true;
    }
    EXPECT_TRUE(threw);
    auto rows = co_await pool->Execute("SELECT balance FROM acc WHERE id = 1");
    EXPECT_EQ(rows.Int(0, 0), 100);
    EXPECT_LE(pool->Size(), 4u);
}

KEEL_CORO_TEST(PgPool, CancelledTransactionRollsBack) {
    using namespace boost::asio::experimental::awaitable_operators;
    auto ex = co_await asio::this_coro::executor;
    auto pool = co_await MakePool("pool_cancel");
    co_await pool->Execute("CREATE TABLE c (id int)");
    asio::steady_timer timer(ex);
    timer.expires_after(std::chrono::milliseconds(100));
    // The transaction sleeps in the server; the timer wins and the coroutine is cancelled.
    co_await (pool->Transaction([](Connection& c) -> Task<void> {
        co_await c.Execute("INSERT INTO c VALUES (1)");
        co_await c.Execute("SELECT pg_sleep(2)");
    }) || timer.async_wait(asio::use_awaitable));
    auto rows = co_await pool->Execute("SELECT count(*) FROM c");
    EXPECT_EQ(rows.Int(0, 0), 0);
}

Task<void> SleepOnAConnection(std::shared_ptr<Pool> pool, int* done) {
    co_await pool->Execute("SELECT pg_sleep(0.05)");
    ++*done;
}

KEEL_CORO_TEST(PgPool, BoundsConcurrentUse) {
    auto pool = co_await MakePool("pool_bound", 2);
    int done = 0;
    std::vector<Task<void>> sleepers;
    sleepers.reserve(8);
    for (int i = 0; i < 8; ++i) sleepers.push_back(SleepOnAConnection(pool, &done));
    co_await testing::RunConcurrently(std::move(sleepers));
    EXPECT_EQ(done, 8);
    EXPECT_EQ(pool->Size(), 2u);
}

KEEL_CORO_TEST(PgPool, ReconnectsAfterServerRestart) {
    auto pool = co_await MakePool("pool_restart");
    co_await pool->Execute("SELECT 1");
    testing::PgServer::Shared().Restart();
    int failures = 0;
    int successes = 0;
    for (int i = 0; i < 5; ++i) {
        try {
            co_await pool->Execute("SELECT 1");
            ++successes;
        } catch (const ConnectionError&) {
            ++failures;
        }
    }
    // At most the first call sees the dead connection; the pool then reconnects.
    EXPECT_LE(failures, 1);
    EXPECT_GE(successes, 4);
    EXPECT_TRUE(co_await pool->Ping());
}

KEEL_CORO_TEST(PgPool, ConnectFailureIsUnavailable) {
    PoolOptions options;
    options.dsn = "host=127.0.0.1 port=" + std::to_string(testing::FreePort()) + " dbname=x user=x";
    auto pool = Pool::Create(co_await asio::this_coro::executor, options);
    bool unavailable = false;
    try {
        co_await pool->Execute("SELECT 1");
    } catch (const UnavailableError&) {
        unavailable = true;
    }
    EXPECT_TRUE(unavailable);
    EXPECT_FALSE(co_await pool->Ping());
    EXPECT_EQ(pool->Size(), 0u);
}

const Migration kV1[] = {{1, "0001_init", "CREATE TABLE items (id int PRIMARY KEY);"}};
const Migration kV2[] = {
    {1, "0001_init", "CREATE TABLE items (id int PRIMARY KEY);"},
    {2, "0002_name", "ALTER TABLE items ADD COLUMN name text; INSERT INTO items VALUES (7, 'x');"}};
const Migration kEdited[] = {{1, "0001_init", "CREATE TABLE items (id bigint PRIMARY KEY);"}};
const Migration kBroken[] = {
    {1, "0001_init", "CREATE TABLE items (id int PRIMARY KEY);"},
    {2, "0002_bad", "ALTER TABLE items ADD COLUMN n int; SELECT no_such_function();"}};

KEEL_CORO_TEST(PgMigrations, AppliesOnceInOrder) {
    auto pool = co_await MakePool("migrate_order");
    EXPECT_EQ(co_await Migrate(*pool, kV1, "svc"), 1);
    EXPECT_EQ(co_await Migrate(*pool, kV1, "svc"), 0);
    EXPECT_EQ(co_await Migrate(*pool, kV2, "svc"), 1);
    auto rows = co_await pool->Execute("SELECT name FROM items WHERE id = 7");
    EXPECT_EQ(rows.Text(0, 0), "x");
}

KEEL_CORO_TEST(PgMigrations, RefusesAnEditedMigration) {
    auto pool = co_await MakePool("migrate_edit");
    co_await Migrate(*pool, kV1, "svc");
    bool refused = false;
    try {
        co_await Migrate(*pool, kEdited, "svc");
    } catch (const MigrationError& e) {
        refused = std::string(e.what()).find("0001_init") != std::string::npos;
    }
    EXPECT_TRUE(refused);
}

KEEL_CORO_TEST(PgMigrations, FailedMigrationLeavesNoTrace) {
    auto pool = co_await MakePool("migrate_fail");
    bool failed = false;
    try {
        co_await Migrate(*pool, kBroken, "svc");
    } catch (const QueryError&) {
        failed = true;
    }
    EXPECT_TRUE(failed);
    auto rows = co_await pool->Execute(
        "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND "
        "column_name = 'n'");
    EXPECT_EQ(rows.Int(0, 0), 0);
    auto versions = co_await pool->Execute("SELECT max(version) FROM keel_schema_migrations");
    EXPECT_EQ(versions.Int(0, 0), 1);
}

}  // namespace
}  // namespace keel::pg
