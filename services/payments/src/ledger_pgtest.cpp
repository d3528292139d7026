// The ledger against a real PostgreSQL: double entry enforced at COMMIT, append-only entries.
#include <keel/core/uuid.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "migrations.hpp"

namespace keel::payments {
namespace {

Task<std::int64_t> Count(pg::Pool& pool, std::string_view sql) {
    auto r = co_await pool.Execute(sql);
    co_return r.Int(0, 0);
}

std::string NewId() { return Uuid::V7().ToString(); }

// Writes a ledger transaction with `amounts` as its entries in one database transaction.
Task<std::string> WriteRaw(pg::Pool& pool, std::vector<std::int64_t> amounts) {
    std::string error;
    auto body = [&](pg::Connection& c) -> Task<void> {
        const auto id = NewId();
        co_await c.Execute(
            "INSERT INTO ledger_transactions (id, kind, user_id, amount, currency) "
            "VALUES ($1, 'top_up', $2, 100, 'USD')",
            id, NewId());
        for (const auto amount : amounts) {
            co_await c.Execute(
                "INSERT INTO ledger_entries (transaction_id, account, amount) "
                "VALUES ($1, 'external:top_up', $2)",
                id, amount);
        }
    };
    try {
        co_await pool.Transaction(body);
    } catch (const pg::QueryError& e) {
        error = e.SqlState() + " " + e.what();
    }
    co_return error;
}

KEEL_CORO_TEST(Ledger, TheDatabaseRefusesToCommitAnUnbalancedTransaction) {
    auto pool = co_await testing::MigratedPool("payments_trigger", Migrations(), "payments");
    const std::vector<std::int64_t> one_sided{100};
    const std::vector<std::int64_t> off_by_one{100, -99};
    const std::vector<std::int64_t> none{};
    const std::vector<std::int64_t> balanced{100, -60, -40};
    const std::vector<std::vector<std::int64_t>> unbalanced{one_sided, off_by_one, none};
    for (const auto& amounts : unbalanced) {
        const auto error = co_await WriteRaw(*pool, amounts);
        EXPECT_EQ(error.substr(0, 5), "23514") << error;
        EXPECT_NE(error.find("does not balance"), std::string::npos) << error;
    }
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM ledger_transactions"), 0);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM ledger_entries"), 0);

    EXPECT_EQ(co_await WriteRaw(*pool, balanced), "");
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM ledger_entries"), 3);

    // An entry added later to a balanced transaction unbalances it: refused too.
    std::string late_error;
    auto late = [&](pg::Connection& c) -> Task<void> {
        co_await c.Execute(
            "INSERT INTO ledger_entries (transaction_id, account, amount) "
            "SELECT id, 'merchant:revenue', 5 FROM ledger_transactions");
    };
    try {
        co_await pool->Transaction(late);
    } catch (const pg::QueryError& e) {
        late_error = e.SqlState();
    }
    EXPECT_EQ(late_error, "23514");

    // Append-only: no edits, no deletions.
    std::string edit_error;
    try {
        co_await pool->Execute("UPDATE ledger_entries SET amount = amount * 2");
    } catch (const pg::QueryError& e) {
        edit_error = e.what();
    }
    EXPECT_NE(edit_error.find("append-only"), std::string::npos) << edit_error;
    EXPECT_EQ(co_await Count(*pool, "SELECT sum(amount) FROM ledger_entries"), 0);
}

}  // namespace
}  // namespace keel::payments
