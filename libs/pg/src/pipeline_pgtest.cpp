// Pipelined statements, the lazily begun transaction, statements held back until the
// next one, and commit callbacks: fewer round trips must not change what commits.
#include <keel/pg/pool.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

namespace keel::pg {
namespace {

Task<std::shared_ptr<Pool>> MakePool(const std::string& db) {
    PoolOptions options;
    options.max_size = 2;
    options.acquire_timeout = std::chrono::milliseconds(2000);
    co_return co_await testing::FreshPool(db, options);
}

Statement Sql(std::string sql, std::vector<Param> params = {}) {
    return Statement{std::move(sql), std::move(params)};
}

KEEL_CORO_TEST(PgPipeline, ReturnsEveryResultInOrder) {
    auto pool = co_await MakePool("pipe_results");
    co_await pool->Execute("CREATE TABLE t (id int PRIMARY KEY)");
    auto lease = co_await pool->Acquire();
    std::vector<Statement> statements;
    statements.push_back(Sql("INSERT INTO t VALUES ($1), ($2)", {P(1), P(2)}));
    statements.push_back(Sql("SELECT count(*) FROM t"));
    statements.push_back(Sql("SELECT $1::text", {P("x")}));
    auto results = co_await lease->ExecuteMany(std::move(statements));
    EXPECT_EQ(results.size(), 3u);
    EXPECT_EQ(results[0].Affected(), 2);
    EXPECT_EQ(results[1].Int(0, 0), 2);  // sees the insert before it
    EXPECT_EQ(results[2].Text(0, 0), "x");
}

KEEL_CORO_TEST(PgPipeline, AnErrorStopsTheRestAndLeavesTheConnectionUsable) {
    auto pool = co_await MakePool("pipe_error");
    co_await pool->Execute("CREATE TABLE t (id int PRIMARY KEY)");
    auto lease = co_await pool->Acquire();
    std::vector<Statement> statements;
    statements.push_back(Sql("INSERT INTO t VALUES (1)"));
    statements.push_back(Sql("INSERT INTO t VALUES (1)"));  // unique violation
    statements.push_back(Sql("INSERT INTO t VALUES (3)"));
    std::string state;
    try {
        co_await lease->ExecuteMany(std::move(statements));
    } catch (const QueryError& e) {
        state = e.SqlState();
    }
    EXPECT_EQ(state, "23505");
    // Outside a transaction the pipeline was one implicit transaction: nothing stayed.
    auto rows = co_await lease->Execute("SELECT count(*) FROM t");
    EXPECT_EQ(rows.Int(0, 0), 0);
    EXPECT_FALSE(lease->InTransaction());
    // A statement first prepared in a failed pipeline is prepared again when used.
    std::vector<Statement> again;
    again.push_back(Sql("INSERT INTO t VALUES (3)"));
    auto ok = co_await lease->ExecuteMany(std::move(again));
    EXPECT_EQ(ok[0].Affected(), 1);
}

KEEL_CORO_TEST(PgPipeline, HeldStatementsCommitWithTheTransaction) {
    auto pool = co_await MakePool("pipe_held");
    co_await pool->Execute("CREATE TABLE t (id int PRIMARY KEY)");
    int committed = 0;
    auto body = [&committed](Connection& c) -> Task<void> {
        co_await c.ExecuteLater("INSERT INTO t VALUES ($1)", 1);
        co_await c.ExecuteLater("INSERT INTO t VALUES ($1)", 2);
        c.OnCommit([&committed] { ++committed; });
    };
    co_await pool->Transaction(body);
    EXPECT_EQ(committed, 1);
    auto rows = co_await pool->Execute("SELECT count(*) FROM t");
    EXPECT_EQ(rows.Int(0, 0), 2);
}

KEEL_CORO_TEST(PgPipeline, AHeldStatementsErrorRollsEverythingBack) {
    auto pool = co_await MakePool("pipe_held_error");
    co_await pool->Execute("CREATE TABLE t (id int PRIMARY KEY)");
    co_await pool->Execute("INSERT INTO t VALUES (9)");
    int committed = 0;
    bool failed = false;
    auto body = [&committed](Connection& c) -> Task<void> {
        co_await c.Execute("INSERT INTO t VALUES (1)");
        co_await c.ExecuteLater("INSERT INTO t VALUES ($1)", 9);  // fails at COMMIT
        c.OnCommit([&committed] { ++committed; });
    };
    try {
        co_await pool->Transaction(body);
    } catch (const QueryError& e) {
        failed = e.IsUniqueViolation();
    }
    EXPECT_TRUE(failed);
    EXPECT_EQ(committed, 0);
    auto rows = co_await pool->Execute("SELECT count(*) FROM t");
    EXPECT_EQ(rows.Int(0, 0), 1);
    // The pool's connections are clean afterwards.
    auto lease = co_await pool->Acquire();
    EXPECT_FALSE(lease->InTransaction());
}

KEEL_CORO_TEST(PgPipeline, LazyBeginIsOneTransaction) {
    auto pool = co_await MakePool("pipe_lazy");
    co_await pool->Execute("CREATE TABLE t (id int PRIMARY KEY)");
    bool threw = false;
    auto failing = [](Connection& c) -> Task<void> {
        co_await c.Execute("INSERT INTO t VALUES (1)");
        auto inside = co_await c.Execute("SELECT count(*) FROM t");
        EXPECT_EQ(inside.Int(0, 0), 1);
        throw std::runtime_error("rule");
    };
    try {
        co_await pool->Transaction(failing);
    } catch (const std::runtime_error&) {
        threw = true;
    }
    EXPECT_TRUE(threw);
    auto rows = co_await pool->Execute("SELECT count(*) FROM t");
    EXPECT_EQ(rows.Int(0, 0), 0);  // the first statement was inside the transaction
    // A transaction that runs nothing sends nothing and still runs its callbacks.
    int committed = 0;
    auto empty = [&committed](Connection& c) -> Task<void> {
        c.OnCommit([&committed] { ++committed; });
        co_return;
    };
    co_await pool->Transaction(empty);
    EXPECT_EQ(committed, 1);
    // Transaction-local settings set in the first pipelined statement last to its end.
    auto local = [](Connection& c) -> Task<void> {
        std::vector<Statement> statements;
        statements.push_back(Sql("SELECT set_config('statement_timeout', '4321', true)"));
        statements.push_back(Sql("SELECT 1"));
        co_await c.ExecuteMany(std::move(statements));
        auto shown = co_await c.Execute("SHOW statement_timeout");
        EXPECT_EQ(shown.Text(0, 0), "4321ms");
    };
    co_await pool->Transaction(local);
    auto after = co_await pool->Execute("SHOW statement_timeout");
    EXPECT_NE(after.Text(0, 0), "4321ms");
}

}  // namespace
}  // namespace keel::pg
