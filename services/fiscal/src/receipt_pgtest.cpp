// Receipts against a real PostgreSQL: one per payment and per order, whatever
// delivers the payment twice, and the reads of the API.
#include <keel/core/uuid.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "migrations.hpp"
#include "receipt.hpp"
#include "receipt_store.hpp"

namespace keel::fiscal {
namespace {

std::string NewId() { return Uuid::V7().ToString(); }

PaymentCaptured Payment(const std::string& user, std::int64_t amount) {
    return PaymentCaptured{NewId(), NewId(), user, amount, "USD"};
}

// IssueReceipt in its own transaction, as the consumer runs it.
Task<std::optional<Receipt>> Issue(pg::Pool& pool, PaymentCaptured payment) {
    std::optional<Receipt> receipt;
    auto body = [&](pg::Connection& c) -> Task<void> {
        receipt = co_await IssueReceipt(c, payment);
    };
    co_await pool.Transaction(body);
    co_return receipt;
}

KEEL_CORO_TEST(Receipts, EachPaymentAndEachOrderGetsExactlyOne) {
    auto pool = co_await testing::MigratedPool("fiscal_once", Migrations(), "fiscal");
    ReceiptStore store(pool);
    const auto user = NewId();
    const auto payment = Payment(user, 1250);
    const auto first = co_await Issue(*pool, payment);
    EXPECT_TRUE(first.has_value());
    if (!first) co_return;
    EXPECT_TRUE(Uuid::Parse(first->id).has_value());
    EXPECT_EQ(first->order_id, payment.order_id);
    EXPECT_EQ(first->amount, 1250);
    EXPECT_EQ(first->issued_at.size(), 24u);
    EXPECT_GT(first->issued_at_ms, 1'700'000'000'000);

    // The same payment again; another payment of the same order; the same payment
    // named with another order: none issues a receipt.
    EXPECT_FALSE((co_await Issue(*pool, payment)).has_value());
    auto second_payment = payment;
    second_payment.payment_id = NewId();
    EXPECT_FALSE((co_await Issue(*pool, second_payment)).has_value());
    auto other_order = payment;
    other_order.order_id = NewId();
    EXPECT_FALSE((co_await Issue(*pool, other_order)).has_value());

    // Duplicates used no number: the next receipt follows directly.
    const auto next = co_await Issue(*pool, Payment(user, 99));
    EXPECT_TRUE(next.has_value());
    if (next) {
        EXPECT_EQ(next->number, first->number + 1);
    }

    const auto stats = co_await store.Count();
    EXPECT_EQ(stats.receipts, 2);
    EXPECT_EQ(stats.distinct_orders, 2);
}

Task<void> IssueCounted(std::shared_ptr<pg::Pool> pool, PaymentCaptured payment, int* issued) {
    const auto receipt = co_await Issue(*pool, std::move(payment));
    if (receipt) ++*issued;
}

KEEL_CORO_TEST(Receipts, ConcurrentDeliveriesOfOnePaymentIssueOne) {
    auto pool = co_await testing::MigratedPool("fiscal_race", Migrations(), "fiscal");
    const auto payment = Payment(NewId(), 500);
    int issued = 0;
    std::vector<Task<void>> deliveries;
    deliveries.reserve(12);
    for (int i = 0; i < 12; ++i) deliveries.push_back(IssueCounted(pool, payment, &issued));
    co_await testing::RunConcurrently(std::move(deliveries));
    EXPECT_EQ(issued, 1);
    auto count = co_await pool->Execute("SELECT count(*) FROM receipts");
    EXPECT_EQ(count.Int(0, 0), 1);
}

KEEL_CORO_TEST(Receipts, ListsByOwnerAndOrderNewestFirst) {
    auto pool = co_await testing::MigratedPool("fiscal_list", Migrations(), "fiscal");
    ReceiptStore store(pool);
    const auto ann = NewId();
    const auto bob = NewId();
    const auto ann_first = co_await Issue(*pool, Payment(ann, 100));
    const auto bob_only = co_await Issue(*pool, Payment(bob, 200));
    const auto ann_second = co_await Issue(*pool, Payment(ann, 300));
    EXPECT_TRUE(ann_first && bob_only && ann_second);
    if (!ann_first || !bob_only || !ann_second) co_return;

    const auto anns = co_await store.List(ann, std::nullopt, 50);
    EXPECT_EQ(anns.size(), 2u);
    if (anns.size() == 2) {
        EXPECT_EQ(anns[0].id, ann_second->id);
        EXPECT_EQ(anns[1].id, ann_first->id);
        EXPECT_EQ(anns[1].payment_id, ann_first->payment_id);
        EXPECT_EQ(anns[1].amount, 100);
        EXPECT_EQ(anns[1].currency, "USD");
        EXPECT_EQ(anns[1].issued_at, ann_first->issued_at);
    }
    EXPECT_EQ((co_await store.List(std::nullopt, std::nullopt, 50)).size(), 3u);
    EXPECT_EQ((co_await store.List(std::nullopt, std::nullopt, 2)).size(), 2u);
    const auto by_order = co_await store.List(std::nullopt, bob_only->order_id, 50);
    EXPECT_EQ(by_order.size(), 1u);
    if (by_order.size() == 1) {
        EXPECT_EQ(by_order[0].user_id, bob);
    }
    // Another user's order stays hidden from ann.
    EXPECT_TRUE((co_await store.List(ann, bob_only->order_id, 50)).empty());
}

PaymentRefunded RefundOf(const PaymentCaptured& p) {
    return PaymentRefunded{NewId(), p.payment_id, p.order_id, p.user_id, p.amount, p.currency};
}

Task<std::optional<Receipt>> IssueRefund(pg::Pool& pool, PaymentRefunded refund) {
    std::optional<Receipt> receipt;
    auto body = [&](pg::Connection& c) -> Task<void> {
        receipt = co_await IssueRefundReceipt(c, refund);
    };
    co_await pool.Transaction(body);
    co_return receipt;
}

KEEL_CORO_TEST(Receipts, ARefundGetsOneRefundReceiptLinkedToTheSale) {
    auto pool = co_await testing::MigratedPool("fiscal_refund", Migrations(), "fiscal");
    ReceiptStore store(pool);
    const auto user = NewId();
    const auto payment = Payment(user, 1250);
    const auto sale = co_await Issue(*pool, payment);
    const auto refund = RefundOf(payment);
    const auto receipt = co_await IssueRefund(*pool, refund);
    EXPECT_TRUE(sale && receipt);
    if (!sale || !receipt) co_return;
    EXPECT_EQ(receipt->kind, "refund");
    EXPECT_EQ(receipt->amount, 1250);
    EXPECT_EQ(receipt->refund_id, refund.refund_id);
    EXPECT_EQ(receipt->sale_receipt_id, sale->id);
    EXPECT_GT(receipt->number, sale->number);

    // Delivered again, or another refund named for the same order: nothing more.
    EXPECT_FALSE((co_await IssueRefund(*pool, refund)).has_value());
    auto another = refund;
    another.refund_id = NewId();
    EXPECT_FALSE((co_await IssueRefund(*pool, another)).has_value());
    // The sale's capture delivered again still issues no second sale.
    EXPECT_FALSE((co_await Issue(*pool, payment)).has_value());

    const auto listed = co_await store.List(user, payment.order_id, 50);
    EXPECT_EQ(listed.size(), 2u);
    if (listed.size() == 2) {
        EXPECT_EQ(listed[0].id, receipt->id);  // newest first
        EXPECT_EQ(listed[0].kind, "refund");
        EXPECT_EQ(listed[0].sale_receipt_id, sale->id);
        EXPECT_EQ(listed[0].refund_id, refund.refund_id);
        EXPECT_EQ(listed[1].kind, "sale");
        EXPECT_EQ(listed[1].sale_receipt_id, "");
    }
    // Sales keep receipts == distinct_orders; refunds are counted apart.
    const auto stats = co_await store.Count();
    EXPECT_EQ(stats.receipts, 1);
    EXPECT_EQ(stats.distinct_orders, 1);
    EXPECT_EQ(stats.refunds, 1);
    EXPECT_EQ(stats.refunded_orders, 1);
}

// fiscal consumes the two topics independently: the refund may come first.
KEEL_CORO_TEST(Receipts, ARefundBeforeItsSaleStillEndsWithBoth) {
    auto pool = co_await testing::MigratedPool("fiscal_refund_first", Migrations(), "fiscal");
    ReceiptStore store(pool);
    const auto payment = Payment(NewId(), 700);
    const auto receipt = co_await IssueRefund(*pool, RefundOf(payment));
    EXPECT_TRUE(receipt.has_value());
    if (receipt) {
        EXPECT_EQ(receipt->sale_receipt_id, "");
    }
    const auto sale = co_await Issue(*pool, payment);
    EXPECT_TRUE(sale.has_value());
    if (!receipt || !sale) co_return;
    const auto listed = co_await store.List(std::nullopt, payment.order_id, 50);
    EXPECT_EQ(listed.size(), 2u);
    if (listed.size() == 2) {
        EXPECT_EQ(listed[0].kind, "sale");
        EXPECT_EQ(listed[1].kind, "refund");
        EXPECT_EQ(listed[1].sale_receipt_id, sale->id);  // linked once the sale exists
    }
    const auto stats = co_await store.Count();
    EXPECT_EQ(stats.receipts, 1);
    EXPECT_EQ(stats.refunds, 1);
}

Task<void> IssueRefundCounted(std::shared_ptr<pg::Pool> pool, PaymentRefunded refund, int* issued) {
    const auto receipt = co_await IssueRefund(*pool, std::move(refund));
    if (receipt) ++*issued;
}

KEEL_CORO_TEST(Receipts, ConcurrentDeliveriesOfOneRefundIssueOne) {
    auto pool = co_await testing::MigratedPool("fiscal_refund_race", Migrations(), "fiscal");
    const auto refund = RefundOf(Payment(NewId(), 300));
    int issued = 0;
    std::vector<Task<void>> deliveries;
    deliveries.reserve(8);
    for (int i = 0; i < 8; ++i) {
        deliveries.push_back(IssueRefundCounted(pool, refund, &issued));
    }
    co_await testing::RunConcurrently(std::move(deliveries));
    EXPECT_EQ(issued, 1);
    auto count = co_await pool->Execute("SELECT count(*) FROM receipts WHERE kind = 'refund'");
    EXPECT_EQ(count.Int(0, 0), 1);
}

}  // namespace
}  // namespace keel::fiscal
