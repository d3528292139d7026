// Captures against a real PostgreSQL: the ledger after a top-up and a capture, declines,
// and concurrent payers of one wallet.
#include <keel/core/uuid.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "capture.hpp"
#include "migrations.hpp"
#include "wallet_store.hpp"

namespace keel::payments {
namespace {

using Kind = CaptureDecision::Kind;
using TopUpOutcome = WalletStore::TopUpOutcome;

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

KEEL_CORO_TEST(Capture, TopUpThenCaptureBalancesEveryTransaction) {
    auto pool = co_await testing::MigratedPool("payments_capture", Migrations(), "payments");
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

KEEL_CORO_TEST(Capture, DeclinesLeaveTheWalletUntouchedAndAreFinal) {
    auto pool = co_await testing::MigratedPool("payments_decline", Migrations(), "payments");
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

KEEL_CORO_TEST(Capture, ConcurrentCapturesNeverOverdraw) {
    auto pool = co_await testing::MigratedPool("payments_concurrent", Migrations(), "payments");
    WalletStore wallets(pool, "USD");
    const auto user = NewId();
    co_await wallets.TopUpWallet(user, 1000, std::nullopt);
    std::vector<CaptureDecision> decisions(25);
    auto capture = [&](std::size_t i) -> Task<void> {
        const StockReserved order{NewId(), user, 100, "USD"};
        decisions[i] = co_await Capture(*pool, order);
    };
    std::vector<Task<void>> tasks;
    tasks.reserve(decisions.size());
    for (std::size_t i = 0; i < decisions.size(); ++i) tasks.push_back(capture(i));
    co_await testing::RunConcurrently(std::move(tasks));
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
