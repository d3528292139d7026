// The capture consumer on a real bus: catalog.stock_reserved.v1 in, one
// payments.payment_captured.v1 or payments.payment_declined.v1 out per order.
#include <functional>
#include <mutex>

#include <boost/json/object.hpp>

#include <keel/bus/bus.hpp>
#include <keel/bus/nats.hpp>
#include <keel/core/uuid.hpp>
#include <keel/testing/bus.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "capture.hpp"
#include "migrations.hpp"
#include "refund.hpp"
#include "wallet_store.hpp"

namespace keel::payments {
namespace {
namespace json = boost::json;

Task<void> Nothing() { co_return; }

// What the stand-in for catalog and orders heard from payments.
struct Listener {
    std::mutex mutex;
    std::vector<json::object> captured;
    std::vector<json::object> declined;

    bus::PlainHandler Into(std::vector<json::object>& list) {
        return [this, &list](std::span<const bus::Event> events) {
            std::lock_guard lock(mutex);
            for (const auto& e : events) list.push_back(e.payload.as_object());
            return Nothing();
        };
    }
    bool Heard(std::size_t captures, std::size_t declines) {
        std::lock_guard lock(mutex);
        return captured.size() == captures && declined.size() == declines;
    }
};

Task<void> Reserve(bus::Bus& catalog, const std::string& order_id, const std::string& user_id,
                   std::int64_t total) {
    const json::value payload = json::object{
        {"order_id", order_id}, {"user_id", user_id}, {"total", total}, {"currency", "USD"}};
    const auto origin = catalog.FromRequest("", "", "test");
    auto body = [&](pg::Connection& c) -> Task<void> {
        co_await catalog.Emit(c, "catalog.stock_reserved.v1", payload, origin);
    };
    co_await catalog.Transaction(body);
}

// Payments' bus on its migrated database (Start creates the outbox), consuming
// catalog.stock_reserved.v1 when `consume`.
Task<std::shared_ptr<bus::Bus>> StartPayments(std::shared_ptr<pg::Pool> pool, bool consume) {
    auto executor = co_await asio::this_coro::executor;
    auto payments = bus::Bus::Create(executor, pool, keel::testing::TestBusSettings("payments"));
    payments->Publishes("payments.payment_captured.v1");
    payments->Publishes("payments.payment_declined.v1");
    payments->Publishes("payments.payment_refunded.v1");
    if (consume) {
        payments->Subscribe("catalog.stock_reserved.v1", CaptureHandler(*payments, "USD"));
        payments->Subscribe("orders.order_cancelled.v1", RefundHandler(*payments));
    }
    co_await payments->Start();
    co_return payments;
}

KEEL_CORO_TEST(CaptureConsumer, OneDecisionPerOrderReachesTheBus) {
    auto executor = co_await asio::this_coro::executor;
    auto pool = co_await testing::MigratedPool("payments_bus", Migrations(), "payments");
    auto payments = co_await StartPayments(pool, true);

    Listener heard;
    auto catalog_pool = co_await testing::FreshPool("payments_bus_catalog");
    auto catalog =
        bus::Bus::Create(executor, catalog_pool, keel::testing::TestBusSettings("catalog"));
    catalog->Publishes("catalog.stock_reserved.v1");
    catalog->SubscribePlain("payments.payment_captured.v1", heard.Into(heard.captured));
    catalog->SubscribePlain("payments.payment_declined.v1", heard.Into(heard.declined));
    co_await catalog->Start();

    WalletStore wallets(pool, "USD");
    const auto user = Uuid::V7().ToString();
    co_await wallets.TopUpWallet(user, 1000, std::nullopt);
    const auto paid = Uuid::V7().ToString();
    const auto unpaid = Uuid::V7().ToString();
    const auto started_ms = bus::NowMicros() / 1000;
    co_await Reserve(*catalog, paid, user, 600);
    co_await Reserve(*catalog, unpaid, user, 600);  // 400 left: declined
    co_await Reserve(*catalog, paid, user, 600);    // the same order again: silence

    for (int i = 0; i < 1000 && !heard.Heard(1, 1); ++i)
        co_await keel::testing::Sleep(std::chrono::milliseconds(20));
    co_await keel::testing::Sleep(std::chrono::milliseconds(500));  // room for a wrong extra event
    EXPECT_TRUE(heard.Heard(1, 1))
        << heard.captured.size() << " captured, " << heard.declined.size() << " declined";

    auto payment = co_await pool->Execute(
        "SELECT id FROM ledger_transactions WHERE kind = 'capture' AND order_id = $1", paid);
    EXPECT_EQ(payment.Rows(), 1);
    if (heard.captured.size() == 1 && payment.Rows() == 1) {
        const auto& c = heard.captured[0];
        EXPECT_EQ(c.at("payment_id").as_string(), payment.Text(0, 0));
        EXPECT_EQ(c.at("order_id").as_string(), paid);
        EXPECT_EQ(c.at("user_id").as_string(), user);
        EXPECT_EQ(c.at("amount").to_number<std::int64_t>(), 600);
        EXPECT_EQ(c.at("currency").as_string(), "USD");
        const auto captured_at = c.at("captured_at").to_number<std::int64_t>();
        EXPECT_GE(captured_at, started_ms);
        EXPECT_LE(captured_at, bus::NowMicros() / 1000);
    }
    if (heard.declined.size() == 1) {
        const auto& d = heard.declined[0];
        EXPECT_EQ(d.at("order_id").as_string(), unpaid);
        EXPECT_EQ(d.at("user_id").as_string(), user);
        EXPECT_EQ(d.at("amount").to_number<std::int64_t>(), 600);
        EXPECT_EQ(d.at("reason").as_string(), kInsufficientFunds);
    }
    EXPECT_EQ((co_await wallets.Get(user)).balance, 400);
    const auto check = co_await wallets.Check();
    EXPECT_EQ(check.entries_sum, 0);
    EXPECT_EQ(check.wallets_sum, check.wallet_entries_sum);
    co_await catalog->Stop();
    co_await payments->Stop();
}

bus::Event StockReservedEvent(bus::Bus& origin, const std::string& user_id, std::int64_t total) {
    bus::Event event;
    event.payload = json::object{{"order_id", Uuid::V7().ToString()},
                                 {"user_id", user_id},
                                 {"total", total},
                                 {"currency", "USD"}};
    event.next = origin.FromRequest("", "", "test");
    return event;
}

Task<void> HandleInTransaction(std::shared_ptr<pg::Pool> pool, const bus::BatchHandler* handler,
                               const std::vector<bus::Event>* batch, std::string* error) {
    auto body = [&](pg::Connection& c) -> Task<void> { co_await (*handler)(c, *batch); };
    try {
        co_await pool->Transaction(body);
    } catch (const std::exception& e) {
        *error = e.what();
    }
}

// Batches handled at once by different workers, sharing two wallets in opposite
// order: both commit (the wallets are locked in one order up front), neither is
// chosen as a deadlock victim.
KEEL_CORO_TEST(CaptureConsumer, BatchesSharingWalletsDoNotDeadlock) {
    auto pool = co_await testing::MigratedPool("payments_batches", Migrations(), "payments");
    auto payments = co_await StartPayments(pool, false);  // the test calls the handler itself
    WalletStore wallets(pool, "USD");
    const auto ann = Uuid::V7().ToString();
    const auto bob = Uuid::V7().ToString();
    co_await wallets.TopUpWallet(ann, 1000, std::nullopt);
    co_await wallets.TopUpWallet(bob, 1000, std::nullopt);

    auto handler = CaptureHandler(*payments, "USD");
    std::vector<std::vector<bus::Event>> batches(6);
    for (std::size_t i = 0; i < batches.size(); ++i) {
        const auto& first = i % 2 == 0 ? ann : bob;
        const auto& second = i % 2 == 0 ? bob : ann;
        for (int k = 0; k < 5; ++k) {
            batches[i].push_back(StockReservedEvent(*payments, first, 10));
            batches[i].push_back(StockReservedEvent(*payments, second, 10));
        }
    }
    std::vector<std::string> errors(batches.size());
    std::vector<Task<void>> handled;
    handled.reserve(batches.size());
    for (std::size_t i = 0; i < batches.size(); ++i)
        handled.push_back(HandleInTransaction(pool, &handler, &batches[i], &errors[i]));
    co_await keel::testing::RunConcurrently(std::move(handled));
    for (std::size_t i = 0; i < errors.size(); ++i) EXPECT_EQ(errors[i], "") << "batch " << i;
    EXPECT_EQ((co_await wallets.Get(ann)).balance, 1000 - 6 * 5 * 10);
    EXPECT_EQ((co_await wallets.Get(bob)).balance, 1000 - 6 * 5 * 10);
    auto captured = co_await pool->Execute(
        "SELECT count(*) FROM bus_outbox WHERE topic = 'payments.payment_captured.v1'");
    EXPECT_EQ(captured.Int(0, 0), 60);
    co_await payments->Stop();
}

// What orders emits when it cancels an order (here: its pending deadline passed).
json::value Cancelled(const std::string& order_id, const std::string& user_id, std::int64_t total) {
    const json::array items{json::object{{"product_id", "00000000-0000-4000-8000-000000000001"},
                                         {"quantity", 1},
                                         {"unit_price", total}}};
    return json::object{{"order_id", order_id}, {"user_id", user_id}, {"items", items},
                        {"total", total},       {"currency", "USD"},  {"reason", "timeout: 30 s"}};
}

Task<std::string> EmitFrom(bus::Bus& peer, std::string topic, json::value payload) {
    std::string id;
    const auto origin = peer.FromRequest("", "", "test");
    auto body = [&](pg::Connection& c) -> Task<void> {
        id = co_await peer.Emit(c, topic, payload, origin);
    };
    co_await peer.Transaction(body);
    co_return id;
}

Task<std::int64_t> Handled(pg::Pool& pool) {
    auto r = co_await pool.Execute("SELECT count(*) FROM bus_inbox");
    co_return r.Int(0, 0);
}

Task<bool> WaitFor(std::function<bool()> done) {
    for (int i = 0; i < 500 && !done(); ++i)
        co_await keel::testing::Sleep(std::chrono::milliseconds(20));
    co_return done();
}

// The pending deadline raced the capture on the bus: a capture that came first is
// refunded once (also when the cancellation is delivered again), one that comes after
// the cancellation does not happen.
KEEL_CORO_TEST(CaptureConsumer, CancelledOrdersAreRefundedOnceOrNeverCaptured) {
    auto executor = co_await asio::this_coro::executor;
    auto pool = co_await testing::MigratedPool("payments_refund_bus", Migrations(), "payments");
    auto payments = co_await StartPayments(pool, true);
    Listener heard;
    std::vector<json::object> refunded;
    auto peers_pool = co_await testing::FreshPool("payments_refund_bus_peers");
    auto peers = bus::Bus::Create(executor, peers_pool, keel::testing::TestBusSettings("peers"));
    peers->Publishes("catalog.stock_reserved.v1");
    peers->Publishes("orders.order_cancelled.v1");
    peers->SubscribePlain("payments.payment_captured.v1", heard.Into(heard.captured));
    peers->SubscribePlain("payments.payment_refunded.v1", heard.Into(refunded));
    co_await peers->Start();

    WalletStore wallets(pool, "USD");
    const auto user = Uuid::V7().ToString();
    co_await wallets.TopUpWallet(user, 1000, std::nullopt);

    // Captured first, then cancelled: refunded.
    const auto paid = Uuid::V7().ToString();
    co_await Reserve(*peers, paid, user, 400);
    // The stream still holds the other tests' captures: count this test's orders only.
    auto captures_of = [&](const std::string& order_id) {
        std::lock_guard lock(heard.mutex);
        std::vector<json::object> out;
        for (const auto& c : heard.captured)
            if (c.at("order_id").as_string() == order_id) out.push_back(c);
        return out;
    };
    // Named: a capturing lambda temporary inside a co_await expression trips GCC 12.
    auto captured_once = [&] { return captures_of(paid).size() == 1; };
    EXPECT_TRUE(co_await WaitFor(captured_once));
    const auto cancelled = Cancelled(paid, user, 400);
    const auto cancel_id = co_await EmitFrom(*peers, "orders.order_cancelled.v1", cancelled);
    auto refunds = [&] {
        std::lock_guard lock(heard.mutex);
        return refunded.size();
    };
    auto refunded_once = [&] { return refunds() == 1; };
    EXPECT_TRUE(co_await WaitFor(refunded_once));
    EXPECT_EQ((co_await wallets.Get(user)).balance, 1000);

    // The same cancellation again (new message id, same event id) and a second
    // cancellation event of the order: nothing more.
    const auto before = co_await Handled(*pool);
    const auto bytes = peers->GetCodec().Encode("orders.order_cancelled.v1", cancelled);
    auto msg = bus::NewMsg("orders.order_cancelled.v1", bytes);
    bus::SetHeader(msg.get(), bus::header::kEventId, cancel_id);
    peers->Connection()->Publish(msg.get(), "again-" + cancel_id);
    co_await EmitFrom(*peers, "orders.order_cancelled.v1", cancelled);
    // Cancelled first, then the capture trigger: never captured.
    const auto late = Uuid::V7().ToString();
    co_await EmitFrom(*peers, "orders.order_cancelled.v1", Cancelled(late, user, 300));
    bool cancellation_recorded = false;
    for (int i = 0; i < 500 && !cancellation_recorded; ++i) {
        auto r = co_await pool->Execute(
            "SELECT count(*) FROM order_cancellations WHERE order_id = $1", late);
        cancellation_recorded = r.Int(0, 0) == 1;
        if (!cancellation_recorded) co_await keel::testing::Sleep(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(cancellation_recorded);
    co_await Reserve(*peers, late, user, 300);
    for (int i = 0; i < 500; ++i) {
        const auto handled = co_await Handled(*pool);
        if (handled >= before + 3) break;
        co_await keel::testing::Sleep(std::chrono::milliseconds(20));
    }
    co_await keel::testing::Sleep(std::chrono::milliseconds(500));  // room for a wrong event

    EXPECT_EQ(co_await Handled(*pool), before + 3);  // the redelivery was skipped by the inbox
    EXPECT_EQ(refunds(), 1u);
    const auto captured = captures_of(paid);
    EXPECT_EQ(captured.size(), 1u);
    EXPECT_EQ(captures_of(late).size(), 0u);
    if (refunds() == 1 && captured.size() == 1) {
        const auto& r = refunded[0];
        EXPECT_EQ(r.at("order_id").as_string(), paid);
        EXPECT_EQ(r.at("user_id").as_string(), user);
        EXPECT_EQ(r.at("amount").to_number<std::int64_t>(), 400);
        EXPECT_EQ(r.at("payment_id").as_string(), captured[0].at("payment_id").as_string());
        EXPECT_EQ(r.at("reason").as_string(), "timeout: 30 s");
    }
    EXPECT_EQ((co_await wallets.Get(user)).balance, 1000);
    const auto check = co_await wallets.Check();
    EXPECT_EQ(check.entries_sum, 0);
    EXPECT_EQ(check.wallets_sum, check.wallet_entries_sum);
    EXPECT_EQ(check.unbalanced_transactions, 0);
    co_await peers->Stop();
    co_await payments->Stop();
}

}  // namespace
}  // namespace keel::payments
