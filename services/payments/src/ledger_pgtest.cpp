// The ledger against a real PostgreSQL: double entry enforced at COMMIT, captures,
// declines, idempotent top-ups, and concurrent payers of one wallet.
#include <boost/asio/redirect_error.hpp>

#include <keel/core/uuid.hpp>
#include <keel/pg/migrations.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/servers.hpp>

#include "capture.hpp"
#include "ledger.hpp"
#include "wallet_store.hpp"

namespace keel::payments {
std::span<const pg::Migration> Migrations();
namespace {

using Kind = CaptureDecision::Kind;
using TopUpOutcome = WalletStore::TopUpOutcome;

Task<std::shared_ptr<pg::Pool>> MigratedPool(const std::string& db) {
    pg::PoolOptions options;
    options.dsn = testing::PgServer::Shared().CreateDatabase(db);
    auto pool = pg::Pool::Create(co_await asio::this_coro::executor, options);
    co_await pg::Migrate(*pool, Migrations(), "payments");
    co_return pool;
}

Task<std::int64_t> Count(pg::Pool& pool, std::string_view sql) {
    auto r = co_await pool.Execute(sql);
    co_return r.Int(0, 0);
}

std::string NewId() { return Uuid::V7().ToString(); }

// DecideCapture in its own transaction, as the consumer runs it.
Task<CaptureDecision> Capture(pg::Pool& pool, StockReserved order) {
    CaptureDecision decision;
    auto body = [&](pg::Connection& c) -> Task<void> {
        decision = co_await DecideCapture(c, order, "USD");
    };
    co_await pool.Transaction(body);
    co_return decision;
}

// Runs `tasks` concurrently on this executor and waits for all of them.
Task<void> RunConcurrently(std::vector<Task<void>> tasks) {
    auto executor = co_await asio::this_coro::executor;
    std::size_t remaining = tasks.size();
    std::exception_ptr failure;
    for (auto& task : tasks) {
        asio::co_spawn(executor, std::move(task), [&](std::exception_ptr e) {
            if (e && !failure) failure = e;
            --remaining;
        });
    }
    asio::steady_timer timer(executor);
    while (remaining > 0) {
        timer.expires_after(std::chrono::milliseconds(5));
        co_await timer.async_wait(asio::use_awaitable);
    }
    if (failure) std::rethrow_exception(failure);
}

KEEL_CORO_TEST(Ledger, TopUpThenCaptureBalancesEveryTransaction) {
    auto pool = co_await MigratedPool("payments_capture");
    WalletStore wallets(pool, "USD");
    const auto user = NewId();
    const auto topped = co_await wallets.TopUpWallet(user, 1000, std::nullopt);
    EXPECT_EQ(topped.outcome, TopUpOutcome::kCredited);
    EXPECT_EQ(topped.wallet.balance, 1000);
    EXPECT_EQ(topped.wallet.currency, "USD");

    const auto order = NewId();
    const StockReserved reserved{order, user, 300, "USD"};
    const auto decision = co_await Capture(*pool, reserved);
    EXPECT_EQ(decision.kind, Kind::kCaptured);
    EXPECT_TRUE(Uuid::Parse(decision.payment_id).has_value());
    EXPECT_EQ((co_await wallets.Get(user)).balance, 700);

    // Every transaction's entries sum to zero; the money is where it should be.
    EXPECT_EQ(co_await Count(*pool,
                             "SELECT count(*) FROM (SELECT transaction_id FROM ledger_entries "
                             "GROUP BY transaction_id HAVING sum(amount) <> 0) AS u"),
              0);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM ledger_entries"), 4);
    EXPECT_EQ(co_await Count(*pool,
                             "SELECT sum(amount) FROM ledger_entries "
                             "WHERE account = 'merchant:revenue'"),
              300);
    EXPECT_EQ(co_await Count(*pool,
                             "SELECT sum(amount) FROM ledger_entries "
                             "WHERE account = 'external:top_up'"),
              -1000);
    const auto check = co_await wallets.Check();
    EXPECT_EQ(check.entries_sum, 0);
    EXPECT_EQ(check.wallets_sum, 700);
    EXPECT_EQ(check.wallet_entries_sum, 700);
    EXPECT_EQ(check.unbalanced_transactions, 0);

    // History from the wallet's side, newest first.
    const auto history = co_await wallets.History(user, 10);
    EXPECT_EQ(history.size(), 2u);
    if (history.size() == 2) {
        EXPECT_EQ(history[0].id, decision.payment_id);
        EXPECT_EQ(history[0].kind, "capture");
        EXPECT_EQ(history[0].amount, -300);
        EXPECT_EQ(history[0].order_id, order);
        EXPECT_EQ(history[1].kind, "top_up");
        EXPECT_EQ(history[1].amount, 1000);
        EXPECT_EQ(history[1].order_id, std::nullopt);
        EXPECT_EQ(history[1].created_at.size(), 24u);  // 2024-05-01T12:00:00.000Z
        EXPECT_EQ(history[1].created_at.back(), 'Z');
    }
    EXPECT_EQ((co_await wallets.History(user, 1)).size(), 1u);

    // The same order again (a second event for it): nothing moves.
    EXPECT_EQ((co_await Capture(*pool, reserved)).kind, Kind::kAlreadyDecided);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 700);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM ledger_transactions"), 2);
}

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
    auto pool = co_await MigratedPool("payments_trigger");
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

KEEL_CORO_TEST(Ledger, DeclinesLeaveTheWalletUntouchedAndAreFinal) {
    auto pool = co_await MigratedPool("payments_decline");
    WalletStore wallets(pool, "USD");
    const auto user = NewId();
    co_await wallets.TopUpWallet(user, 100, std::nullopt);

    const auto order = NewId();
    const StockReserved too_much{order, user, 101, "USD"};
    const auto declined = co_await Capture(*pool, too_much);
    EXPECT_EQ(declined.kind, Kind::kDeclined);
    EXPECT_EQ(declined.reason, kInsufficientFunds);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 100);
    EXPECT_EQ(
        co_await Count(*pool, "SELECT count(*) FROM ledger_transactions WHERE kind = 'capture'"),
        0);

    const StockReserved no_wallet{NewId(), NewId(), 10, "USD"};
    EXPECT_EQ((co_await Capture(*pool, no_wallet)).reason, kNoWallet);
    const StockReserved in_euros{NewId(), user, 10, "EUR"};
    EXPECT_EQ((co_await Capture(*pool, in_euros)).reason, kCurrencyMismatch);
    const StockReserved zero_total{NewId(), user, 0, "USD"};
    EXPECT_EQ((co_await Capture(*pool, zero_total)).reason, kInvalidAmount);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 100);

    // Exactly enough pays, down to zero.
    const StockReserved exact{NewId(), user, 100, "USD"};
    EXPECT_EQ((co_await Capture(*pool, exact)).kind, Kind::kCaptured);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 0);

    // Money arriving later does not turn a declined (hence cancelled) order into a capture.
    co_await wallets.TopUpWallet(user, 500, std::nullopt);
    EXPECT_EQ((co_await Capture(*pool, too_much)).kind, Kind::kAlreadyDecided);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 500);
    const auto check = co_await wallets.Check();
    EXPECT_EQ(check.entries_sum, 0);
    EXPECT_EQ(check.wallets_sum, 500);
    EXPECT_EQ(check.wallet_entries_sum, 500);
}

KEEL_CORO_TEST(Ledger, TopUpWithAnIdempotencyKeyCreditsOnce) {
    auto pool = co_await MigratedPool("payments_idempotent");
    WalletStore wallets(pool, "USD");
    const auto user = NewId();
    const std::optional<std::string> key = "top-up-1";
    const auto first = co_await wallets.TopUpWallet(user, 500, key);
    EXPECT_EQ(first.outcome, TopUpOutcome::kCredited);
    co_await wallets.TopUpWallet(user, 50, std::nullopt);  // balance 550 now

    const auto again = co_await wallets.TopUpWallet(user, 500, key);
    EXPECT_EQ(again.outcome, TopUpOutcome::kReplayed);
    EXPECT_EQ(again.wallet.balance, 500);  // the first response, replayed
    EXPECT_EQ((co_await wallets.TopUpWallet(user, 501, key)).outcome, TopUpOutcome::kKeyReused);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 550);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM ledger_transactions"), 2);

    // Keys belong to their user.
    const auto other = NewId();
    EXPECT_EQ((co_await wallets.TopUpWallet(other, 70, key)).outcome, TopUpOutcome::kCredited);
    EXPECT_EQ((co_await wallets.Get(other)).balance, 70);

    // Ten concurrent retries of one new key: one credit.
    const std::optional<std::string> racing = "top-up-2";
    std::vector<WalletStore::TopUp> results(10);
    auto top_up = [&](std::size_t i) -> Task<void> {
        results[i] = co_await wallets.TopUpWallet(user, 1000, racing);
    };
    std::vector<Task<void>> tasks;
    for (std::size_t i = 0; i < results.size(); ++i) tasks.push_back(top_up(i));
    co_await RunConcurrently(std::move(tasks));
    int credited = 0;
    for (const auto& r : results) {
        credited += r.outcome == TopUpOutcome::kCredited;
        EXPECT_EQ(r.wallet.balance, 1550);
    }
    EXPECT_EQ(credited, 1);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 1550);
}

KEEL_CORO_TEST(Ledger, ConcurrentCapturesNeverOverdraw) {
    auto pool = co_await MigratedPool("payments_concurrent");
    WalletStore wallets(pool, "USD");
    const auto user = NewId();
    co_await wallets.TopUpWallet(user, 1000, std::nullopt);
    std::vector<CaptureDecision> decisions(25);
    auto capture = [&](std::size_t i) -> Task<void> {
        const StockReserved order{NewId(), user, 100, "USD"};
        decisions[i] = co_await Capture(*pool, order);
    };
    std::vector<Task<void>> tasks;
    for (std::size_t i = 0; i < decisions.size(); ++i) tasks.push_back(capture(i));
    co_await RunConcurrently(std::move(tasks));
    int captured = 0;
    for (const auto& d : decisions) captured += d.kind == Kind::kCaptured;
    EXPECT_EQ(captured, 10);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 0);
    const auto check = co_await wallets.Check();
    EXPECT_EQ(check.entries_sum, 0);
    EXPECT_EQ(check.wallets_sum, 0);
    EXPECT_EQ(check.wallet_entries_sum, 0);
    EXPECT_EQ(check.unbalanced_transactions, 0);
}

}  // namespace
}  // namespace keel::payments
