// Cancellations against a real PostgreSQL: a capture trigger after the cancellation
// captures nothing, a capture before it is refunded exactly once, and wallets, ledger
// and decisions agree after captures and cancellations race.
#include <keel/core/uuid.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "capture.hpp"
#include "ledger.hpp"
#include "migrations.hpp"
#include "refund.hpp"
#include "wallet_store.hpp"

namespace keel::payments {
namespace {

using CaptureKind = CaptureDecision::Kind;
using RefundKind = RefundDecision::Kind;

std::string NewId() { return Uuid::V7().ToString(); }

Task<std::int64_t> Count(pg::Pool& pool, std::string_view sql, std::string order_id) {
    auto r = co_await pool.Execute(sql, order_id);
    co_return r.Int(0, 0);
}

// Take plain values: a braced StockReserved{...} in a co_await expression is one of
// GCC 12's coroutine traps.
Task<CaptureDecision> Capture(std::shared_ptr<pg::Pool> pool, std::string order_id,
                              std::string user_id, std::int64_t total) {
    const StockReserved order{order_id, user_id, total, "USD"};
    CaptureDecision decision;
    auto body = [&](pg::Connection& c) -> Task<void> {
        decision = co_await DecideCapture(c, order, "USD");
    };
    co_await pool->Transaction(body);
    co_return decision;
}

Task<RefundDecision> Cancel(std::shared_ptr<pg::Pool> pool, std::string order_id,
                            std::string user_id) {
    const OrderCancelled order{order_id, user_id, "timeout: not paid within 30 s"};
    RefundDecision decision;
    auto body = [&](pg::Connection& c) -> Task<void> {
        decision = co_await RecordCancellation(c, order);
    };
    co_await pool->Transaction(body);
    co_return decision;
}

Task<void> ExpectSoundLedger(WalletStore& wallets) {
    const auto check = co_await wallets.Check();
    EXPECT_EQ(check.entries_sum, 0);
    EXPECT_EQ(check.wallets_sum, check.wallet_entries_sum);
    EXPECT_EQ(check.unbalanced_transactions, 0);
}

KEEL_CORO_TEST(Refund, ACaptureTriggerAfterTheCancellationCapturesNothing) {
    auto pool = co_await testing::MigratedPool("payments_cancel_first", Migrations(), "payments");
    WalletStore wallets(pool, "USD");
    const auto user = NewId();
    co_await wallets.TopUpWallet(user, 1000, std::nullopt);
    const auto order = NewId();

    const auto cancelled = co_await Cancel(pool, order, user);
    EXPECT_EQ(cancelled.kind, RefundKind::kNothingCaptured);
    const auto late = co_await Capture(pool, order, user, 300);
    EXPECT_EQ(late.kind, CaptureKind::kOrderCancelled);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 1000);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM ledger_transactions WHERE order_id = $1",
                             order),
              0);
    // The cancellation delivered again changes nothing either.
    EXPECT_EQ((co_await Cancel(pool, order, user)).kind, RefundKind::kNothingCaptured);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 1000);
    co_await ExpectSoundLedger(wallets);
}

KEEL_CORO_TEST(Refund, ACaptureBeforeTheCancellationIsRefundedOnce) {
    auto pool = co_await testing::MigratedPool("payments_refund", Migrations(), "payments");
    WalletStore wallets(pool, "USD");
    const auto user = NewId();
    co_await wallets.TopUpWallet(user, 1000, std::nullopt);
    const auto order = NewId();
    const auto captured = co_await Capture(pool, order, user, 300);
    EXPECT_EQ(captured.kind, CaptureKind::kCaptured);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 700);

    const auto refund = co_await Cancel(pool, order, user);
    EXPECT_EQ(refund.kind, RefundKind::kRefunded);
    EXPECT_EQ(refund.payment_id, captured.payment_id);
    EXPECT_EQ(refund.amount, 300);
    EXPECT_EQ(refund.user_id, user);
    EXPECT_TRUE(Uuid::Parse(refund.refund_id).has_value());
    EXPECT_EQ((co_await wallets.Get(user)).balance, 1000);
    // merchant:revenue gave the money back: it holds nothing of this order.
    EXPECT_EQ(co_await Count(*pool,
                             "SELECT coalesce(sum(e.amount), 0)::bigint FROM ledger_entries e "
                             "JOIN ledger_transactions t ON t.id = e.transaction_id "
                             "WHERE t.order_id = $1 AND e.account = 'merchant:revenue'",
                             order),
              0);
    const auto history = co_await wallets.History(user, 10);
    EXPECT_EQ(history.size(), 3u);
    if (history.size() == 3) {
        EXPECT_EQ(history[0].id, refund.refund_id);
        EXPECT_EQ(history[0].kind, "refund");
        EXPECT_EQ(history[0].amount, 300);
        EXPECT_EQ(history[0].order_id, order);
    }

    // Redelivered (or a second cancellation event): nothing more.
    const auto again = co_await Cancel(pool, order, user);
    EXPECT_EQ(again.kind, RefundKind::kAlreadyRefunded);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 1000);
    EXPECT_EQ(co_await Count(*pool,
                             "SELECT count(*) FROM ledger_transactions "
                             "WHERE order_id = $1 AND kind = 'refund'",
                             order),
              1);
    // And the capture trigger again: still one decision, nothing captured.
    EXPECT_EQ((co_await Capture(pool, order, user, 300)).kind, CaptureKind::kAlreadyDecided);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 1000);
    co_await ExpectSoundLedger(wallets);
}

// The database refuses a second refund of one order even if the code asked for it.
KEEL_CORO_TEST(Refund, TheLedgerHoldsOneRefundPerOrder) {
    auto pool = co_await testing::MigratedPool("payments_refund_unique", Migrations(), "payments");
    const auto user = NewId();
    const auto order = NewId();
    const std::string insert =
        "WITH t AS (INSERT INTO ledger_transactions (id, kind, user_id, order_id, amount, "
        "currency) VALUES ($1, 'refund', $2, $3, 5, 'USD') RETURNING id) "
        "INSERT INTO ledger_entries (transaction_id, account, amount) "
        "SELECT t.id, e.a, e.n FROM t, (VALUES ('merchant:revenue', -5), ($4, 5)) "
        "AS e (a, n)";
    const auto wallet = WalletAccount(user);
    co_await pool->Execute(insert, NewId(), user, order, wallet);
    bool refused = false;
    try {
        co_await pool->Execute(insert, NewId(), user, order, wallet);
    } catch (const std::exception&) {
        refused = true;
    }
    EXPECT_TRUE(refused);
}

// Captures and cancellations of the same orders at once, in both orders: each order
// ends either not captured or captured and refunded, and the wallet is whole again.
KEEL_CORO_TEST(Refund, CapturesRacingCancellationsLeaveTheWalletWhole) {
    auto pool = co_await testing::MigratedPool("payments_refund_race", Migrations(), "payments");
    WalletStore wallets(pool, "USD");
    const auto user = NewId();
    co_await wallets.TopUpWallet(user, 10'000, std::nullopt);
    constexpr std::size_t kOrders = 20;
    std::vector<std::string> orders;
    for (std::size_t i = 0; i < kOrders; ++i) orders.push_back(NewId());
    std::vector<CaptureDecision> captures(kOrders);
    std::vector<RefundDecision> refunds(kOrders);
    auto capture = [&](std::size_t i) -> Task<void> {
        captures[i] = co_await Capture(pool, orders[i], user, 100);
    };
    auto cancel = [&](std::size_t i) -> Task<void> {
        refunds[i] = co_await Cancel(pool, orders[i], user);
    };
    std::vector<Task<void>> tasks;
    for (std::size_t i = 0; i < kOrders; ++i) {
        if (i % 2 == 0) {
            tasks.push_back(capture(i));
            tasks.push_back(cancel(i));
        } else {
            tasks.push_back(cancel(i));
            tasks.push_back(capture(i));
        }
    }
    co_await testing::RunConcurrently(std::move(tasks));
    for (std::size_t i = 0; i < kOrders; ++i) {
        const bool captured = captures[i].kind == CaptureKind::kCaptured;
        EXPECT_EQ(captured, refunds[i].kind == RefundKind::kRefunded) << "order " << i;
        if (!captured) {
            EXPECT_EQ(captures[i].kind, CaptureKind::kOrderCancelled) << "order " << i;
        }
    }
    EXPECT_EQ((co_await wallets.Get(user)).balance, 10'000);
    co_await ExpectSoundLedger(wallets);
}

}  // namespace
}  // namespace keel::payments
