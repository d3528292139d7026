// The server-side limits every pooled connection carries (PoolOptions): a statement,
// a lock wait and an idle transaction cannot hold a connection forever.
#include <keel/pg/pool.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

namespace keel::pg {
namespace {

Task<std::shared_ptr<Pool>> ShortLimits(const std::string& db) {
    PoolOptions options;
    options.max_size = 4;
    options.statement_timeout = std::chrono::milliseconds(300);
    options.lock_timeout = std::chrono::milliseconds(200);
    options.idle_in_transaction_timeout = std::chrono::milliseconds(300);
    co_return co_await testing::FreshPool(db, options);
}

Task<std::string> SqlStateOf(Pool& pool, std::string sql) {
    try {
        co_await pool.Execute(sql);
    } catch (const QueryError& e) {
        co_return e.SqlState();
    }
    co_return "no error";
}

KEEL_CORO_TEST(PgSessionLimits, EveryConnectionCarriesTheConfiguredTimeouts) {
    auto pool = co_await ShortLimits("limits_show");
    auto shown = co_await pool->Execute(
        "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), "
        "current_setting('idle_in_transaction_session_timeout')");
    EXPECT_EQ(shown.Text(0, 0), "300ms");
    EXPECT_EQ(shown.Text(0, 1), "200ms");
    EXPECT_EQ(shown.Text(0, 2), "300ms");
}

KEEL_CORO_TEST(PgSessionLimits, DefaultsAreOnWithoutConfiguration) {
    auto pool = co_await testing::FreshPool("limits_default");
    auto shown = co_await pool->Execute(
        "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), "
        "current_setting('idle_in_transaction_session_timeout')");
    EXPECT_EQ(shown.Text(0, 0), "15s");
    EXPECT_EQ(shown.Text(0, 1), "5s");
    EXPECT_EQ(shown.Text(0, 2), "1min");
}

KEEL_CORO_TEST(PgSessionLimits, AStatementLongerThanTheTimeoutIsCancelled) {
    auto pool = co_await ShortLimits("limits_statement");
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(co_await SqlStateOf(*pool, "SELECT pg_sleep(5)"), "57014");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
    auto again = co_await pool->Execute("SELECT 1");  // the connection is still good
    EXPECT_EQ(again.Int(0, 0), 1);
}

KEEL_CORO_TEST(PgSessionLimits, ALockWaitLongerThanTheTimeoutFails) {
    auto pool = co_await ShortLimits("limits_lock");
    co_await pool->Execute("CREATE TABLE t (id int PRIMARY KEY)");
    co_await pool->Execute("INSERT INTO t VALUES (1)");
    auto holder = co_await pool->Acquire();
    co_await holder->Execute("BEGIN");
    co_await holder->Execute("SELECT id FROM t WHERE id = 1 FOR UPDATE");
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(co_await SqlStateOf(*pool, "UPDATE t SET id = 1 WHERE id = 1"), "55P03");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
    co_await holder->Execute("ROLLBACK");
}

KEEL_CORO_TEST(PgSessionLimits, AnIdleTransactionIsEndedByTheServer) {
    auto pool = co_await ShortLimits("limits_idle");
    co_await pool->Execute("CREATE TABLE t (id int PRIMARY KEY)");
    co_await pool->Execute("INSERT INTO t VALUES (1)");
    {
        auto idle = co_await pool->Acquire();
        co_await idle->Execute("BEGIN");
        co_await idle->Execute("SELECT id FROM t WHERE id = 1 FOR UPDATE");
        co_await testing::Sleep(std::chrono::milliseconds(800));
        bool unavailable = false;
        try {
            co_await idle->Execute("SELECT 1");
        } catch (const UnavailableError&) {
            unavailable = true;  // the server closed the session
        }
        EXPECT_TRUE(unavailable);
        EXPECT_TRUE(idle->Broken());
    }  // the broken connection leaves the pool
    // Its lock went with it: the row can be updated at once.
    auto updated = co_await pool->Execute("UPDATE t SET id = 2 WHERE id = 1");
    EXPECT_EQ(updated.Affected(), 1);
}

KEEL_CORO_TEST(PgSessionLimits, AnUnreachableServerIsUnavailable) {
    PoolOptions options;
    options.dsn = "host=127.0.0.1 port=1 dbname=x user=x connect_timeout=2";
    options.connect_timeout = std::chrono::milliseconds(1000);
    auto pool = Pool::Create(co_await asio::this_coro::executor, options);
    bool unavailable = false;
    try {
        co_await pool->Execute("SELECT 1");
    } catch (const UnavailableError&) {
        unavailable = true;
    }
    EXPECT_TRUE(unavailable);
}

KEEL_CORO_TEST(PgSessionLimits, AnExhaustedPoolIsUnavailable) {
    PoolOptions options;
    options.max_size = 1;
    options.acquire_timeout = std::chrono::milliseconds(200);
    auto pool = co_await testing::FreshPool("limits_exhausted", options);
    auto only = co_await pool->Acquire();
    bool unavailable = false;
    try {
        co_await pool->Execute("SELECT 1");
    } catch (const UnavailableError&) {
        unavailable = true;
    }
    EXPECT_TRUE(unavailable);
}

}  // namespace
}  // namespace keel::pg
