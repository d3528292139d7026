// The receipt consumers on a real bus: payments.payment_captured.v1 delivered under
// several event ids still yields one receipt and one fiscal.receipt_issued.v1;
// payments.payment_refunded.v1 likewise one refund receipt, before or after the sale.
#include <algorithm>
#include <mutex>

#include <boost/json/object.hpp>

#include <keel/bus/bus.hpp>
#include <keel/core/uuid.hpp>
#include <keel/testing/bus.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "migrations.hpp"
#include "receipt.hpp"
#include "receipt_store.hpp"

namespace keel::fiscal {
namespace {
namespace json = boost::json;

Task<void> Nothing() { co_return; }

struct Listener {
    std::mutex mutex;
    std::vector<json::object> issued;

    bus::PlainHandler Handler() {
        return [this](std::span<const bus::Event> events) {
            std::lock_guard lock(mutex);
            for (const auto& e : events) issued.push_back(e.payload.as_object());
            return Nothing();
        };
    }
    std::size_t Size() {
        std::lock_guard lock(mutex);
        return issued.size();
    }
};

Task<void> Emit(bus::Bus& payments, std::string topic, const json::value& payload) {
    const auto origin = payments.FromRequest("", "", "test");
    auto body = [&](pg::Connection& c) -> Task<void> {
        co_await payments.Emit(c, topic, payload, origin);
    };
    co_await payments.Transaction(body);
}

Task<void> Capture(bus::Bus& payments, const json::value& payload) {
    co_await Emit(payments, "payments.payment_captured.v1", payload);
}

KEEL_CORO_TEST(ReceiptConsumer, ARepeatedPaymentIsReceiptedOnce) {
    auto executor = co_await asio::this_coro::executor;
    auto pool = co_await testing::MigratedPool("fiscal_bus", Migrations(), "fiscal");
    auto fiscal = bus::Bus::Create(executor, pool, keel::testing::TestBusSettings("fiscal"));
    fiscal->Publishes("fiscal.receipt_issued.v1");
    fiscal->Subscribe("payments.payment_captured.v1", ReceiptHandler(*fiscal));
    co_await fiscal->Start();

    Listener listener;
    auto payments_pool = co_await testing::FreshPool("fiscal_bus_payments");
    auto payments =
        bus::Bus::Create(executor, payments_pool, keel::testing::TestBusSettings("payments"));
    payments->Publishes("payments.payment_captured.v1");
    payments->SubscribePlain("fiscal.receipt_issued.v1", listener.Handler());
    co_await payments->Start();

    const auto user = Uuid::V7().ToString();
    const auto order = Uuid::V7().ToString();
    const auto payment = Uuid::V7().ToString();
    const json::value captured =
        json::object{{"payment_id", payment}, {"order_id", order}, {"user_id", user},
                     {"amount", 1250},        {"currency", "USD"}, {"captured_at", 1}};
    const json::value other = json::object{{"payment_id", Uuid::V7().ToString()},
                                           {"order_id", Uuid::V7().ToString()},
                                           {"user_id", user},
                                           {"amount", 80},
                                           {"currency", "USD"},
                                           {"captured_at", 2}};
    // Three events (three event ids) for one payment, and one for another.
    co_await Capture(*payments, captured);
    co_await Capture(*payments, captured);
    co_await Capture(*payments, other);
    co_await Capture(*payments, captured);

    for (int i = 0; i < 1000 && listener.Size() < 2; ++i)
        co_await keel::testing::Sleep(std::chrono::milliseconds(20));
    co_await keel::testing::Sleep(std::chrono::milliseconds(500));  // room for a wrong extra event
    EXPECT_EQ(listener.Size(), 2u);
    ReceiptStore store(pool);
    const auto stats = co_await store.Count();
    EXPECT_EQ(stats.receipts, 2);
    EXPECT_EQ(stats.distinct_orders, 2);

    const auto stored = co_await store.List(std::nullopt, order, 50);
    EXPECT_EQ(stored.size(), 1u);
    if (!stored.empty() && !listener.issued.empty()) {
        const auto& e = listener.issued[0];
        EXPECT_EQ(e.at("receipt_id").as_string(), stored[0].id);
        EXPECT_EQ(e.at("receipt_number").to_number<std::int64_t>(), stored[0].number);
        EXPECT_EQ(e.at("order_id").as_string(), order);
        EXPECT_EQ(e.at("payment_id").as_string(), payment);
        EXPECT_EQ(e.at("user_id").as_string(), user);
        EXPECT_EQ(e.at("amount").to_number<std::int64_t>(), 1250);
        EXPECT_EQ(e.at("currency").as_string(), "USD");
        EXPECT_EQ(e.at("issued_at").to_number<std::int64_t>(), stored[0].issued_at_ms);
    }
    co_await payments->Stop();
    co_await fiscal->Stop();
}

// The kinds of the order's receipts, sorted: "refund;sale;" when it has both.
Task<std::string> KindsOf(ReceiptStore* store, std::string order) {
    const auto receipts = co_await store->List(std::nullopt, order, 50);
    std::vector<std::string> kinds;
    for (const auto& r : receipts) kinds.push_back(r.kind);
    std::sort(kinds.begin(), kinds.end());
    std::string out;
    for (const auto& kind : kinds) out += kind + ";";
    co_return out;
}

// The refund of one order published twice (two event ids) before its capture, and the
// refund of another after its capture: one refund receipt each, every sale receipted.
KEEL_CORO_TEST(ReceiptConsumer, RefundsAreReceiptedOnceWhateverTheOrder) {
    auto executor = co_await asio::this_coro::executor;
    auto pool = co_await testing::MigratedPool("fiscal_bus_refunds", Migrations(), "fiscal");
    auto fiscal = bus::Bus::Create(executor, pool, keel::testing::TestBusSettings("fiscalrefund"));
    fiscal->Publishes("fiscal.receipt_issued.v1");
    fiscal->Subscribe("payments.payment_captured.v1", ReceiptHandler(*fiscal));
    fiscal->Subscribe("payments.payment_refunded.v1", RefundReceiptHandler());
    co_await fiscal->Start();
    auto payments_pool = co_await testing::FreshPool("fiscal_bus_refunds_payments");
    auto payments =
        bus::Bus::Create(executor, payments_pool, keel::testing::TestBusSettings("paymentsrefund"));
    payments->Publishes("payments.payment_captured.v1");
    payments->Publishes("payments.payment_refunded.v1");
    co_await payments->Start();

    const auto user = Uuid::V7().ToString();
    auto captured = [&](const std::string& order, const std::string& payment) {
        return json::value(json::object{{"payment_id", payment},
                                        {"order_id", order},
                                        {"user_id", user},
                                        {"amount", 900},
                                        {"currency", "USD"},
                                        {"captured_at", 1}});
    };
    auto refunded = [&](const std::string& order, const std::string& payment) {
        return json::value(json::object{{"refund_id", Uuid::V7().ToString()},
                                        {"payment_id", payment},
                                        {"order_id", order},
                                        {"user_id", user},
                                        {"amount", 900},
                                        {"currency", "USD"},
                                        {"reason", "pending timeout"},
                                        {"refunded_at", 2}});
    };
    const auto early = Uuid::V7().ToString();
    const auto early_payment = Uuid::V7().ToString();
    const auto late = Uuid::V7().ToString();
    const auto late_payment = Uuid::V7().ToString();
    const auto early_refund = refunded(early, early_payment);
    co_await Emit(*payments, "payments.payment_refunded.v1", early_refund);
    co_await Emit(*payments, "payments.payment_refunded.v1", early_refund);
    // The stream holds other tests' captures too: count this test's orders only.
    ReceiptStore store(pool);
    auto early_refunded = [&]() -> Task<bool> {
        const auto kinds = co_await KindsOf(&store, early);
        co_return kinds == "refund;";
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(early_refunded));  // no sale needed

    const auto early_capture = captured(early, early_payment);
    const auto late_capture = captured(late, late_payment);
    const auto late_refund = refunded(late, late_payment);
    const auto late_refund_again = refunded(late, late_payment);  // another refund id
    co_await Capture(*payments, early_capture);
    co_await Capture(*payments, late_capture);
    co_await Emit(*payments, "payments.payment_refunded.v1", late_refund);
    co_await Emit(*payments, "payments.payment_refunded.v1", late_refund_again);
    auto settled = [&]() -> Task<bool> {
        const auto early_kinds = co_await KindsOf(&store, early);
        const auto late_kinds = co_await KindsOf(&store, late);
        co_return early_kinds == "refund;sale;" && late_kinds == "refund;sale;";
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(settled));
    co_await keel::testing::Sleep(std::chrono::milliseconds(500));  // room for a wrong extra one
    const auto stats = co_await store.Count();
    EXPECT_EQ(stats.receipts, stats.distinct_orders);
    EXPECT_EQ(stats.refunds, 2);  // no other test refunds
    EXPECT_EQ(stats.refunded_orders, 2);
    const std::vector<std::string> both = {early, late};
    for (const auto& order : both) {
        const auto listed = co_await store.List(std::nullopt, order, 50);
        EXPECT_EQ(listed.size(), 2u);
        std::string sale_id;
        std::string linked_id;
        for (const auto& r : listed) {
            if (r.kind == "sale") sale_id = r.id;
            if (r.kind == "refund") linked_id = r.sale_receipt_id;
        }
        EXPECT_FALSE(sale_id.empty());
        EXPECT_EQ(linked_id, sale_id);
    }
    co_await payments->Stop();
    co_await fiscal->Stop();
}

}  // namespace
}  // namespace keel::fiscal
