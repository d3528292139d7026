// orders' saga steps on a real bus: a stand-in for payments and catalog publishes
// their events and hears what orders answers.
#include <functional>
#include <map>
#include <mutex>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>

#include <keel/bus/nats.hpp>
#include <keel/core/uuid.hpp>
#include <keel/testing/bus.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/servers.hpp>

#include "migrations.hpp"
#include "order_store.hpp"
#include "pending_sweeper.hpp"
#include "saga.hpp"

namespace keel::orders {
namespace {
namespace json = boost::json;
using keel::testing::NatsServer;
using keel::testing::WaitUntil;

const std::string kMug = "00000000-0000-4000-8000-000000000001";

std::shared_ptr<bus::Nats> Nats() {
    return bus::Nats::Connect({{NatsServer::Shared().Url()}, "test", std::chrono::seconds(5)});
}

// Empty streams, so that no test sees another's events.
void PurgeStreams() {
    auto nats = Nats();
    for (const char* stream : {"ORDERS", "PAYMENTS", "CATALOG", "DLQ"})
        nats->ApiRequest(std::string("STREAM.PURGE.") + stream, "");
}

std::int64_t DeadLetters() {
    const auto info = json::parse(Nats()->ApiRequest("STREAM.INFO.DLQ", ""));
    return info.at("state").at("messages").to_number<std::int64_t>();
}

Task<void> Nothing() { co_return; }

// What the stand-in hears from orders.
class Heard final {
public:
    bus::PlainHandler Into(const std::string& topic) {
        return [this, topic](std::span<const bus::Event> events) {
            std::lock_guard lock(mutex_);
            for (const auto& e : events) events_[topic].push_back(e);
            return Nothing();
        };
    }
    std::vector<bus::Event> Of(const std::string& topic, const std::string& order_id) {
        std::lock_guard lock(mutex_);
        std::vector<bus::Event> out;
        for (const auto& e : events_[topic])
            if (e.payload.at("order_id").as_string() == order_id) out.push_back(e);
        return out;
    }
    std::size_t Count(const std::string& topic) {
        std::lock_guard lock(mutex_);
        return events_[topic].size();
    }

private:
    std::mutex mutex_;
    std::map<std::string, std::vector<bus::Event>> events_;
};

constexpr const char* kConfirmed = "orders.order_confirmed.v1";
constexpr const char* kCancelled = "orders.order_cancelled.v1";
constexpr const char* kCaptured = "payments.payment_captured.v1";
constexpr const char* kDeclined = "payments.payment_declined.v1";
constexpr const char* kRejected = "catalog.stock_rejected.v1";

// orders wired as main.cpp wires it, and the stand-in for its peers.
struct Saga {
    std::shared_ptr<pg::Pool> pool;
    std::shared_ptr<bus::Bus> orders;
    std::shared_ptr<OrderStore> store;
    std::shared_ptr<bus::Bus> peers;
    std::shared_ptr<Heard> heard = std::make_shared<Heard>();

    Task<void> Stop() {
        co_await peers->Stop();
        co_await orders->Stop();
    }
};

// The stand-in for payments and catalog: publishes their events, hears orders'.
std::shared_ptr<bus::Bus> MakePeers(asio::any_io_executor executor, std::shared_ptr<pg::Pool> pool,
                                    const std::string& service, std::shared_ptr<Heard> heard) {
    auto peers = bus::Bus::Create(executor, pool, keel::testing::TestBusSettings(service));
    for (const char* topic : {kCaptured, kDeclined, kRejected}) peers->Publishes(topic);
    for (const char* topic : {kConfirmed, kCancelled})
        peers->SubscribePlain(topic, heard->Into(topic));
    return peers;
}

Task<Saga> StartSaga(std::string name) {
    PurgeStreams();
    auto executor = co_await asio::this_coro::executor;
    Saga s;
    s.pool = co_await testing::MigratedPool(name, Migrations(), "orders");
    s.orders = bus::Bus::Create(executor, s.pool, keel::testing::TestBusSettings(name));
    s.store = std::make_shared<OrderStore>(s.pool, s.orders);
    SubscribeSaga(*s.orders, s.store);
    co_await s.orders->Start();
    const auto peers = name + "_peers";
    // Named: FreshPool's defaulted `options = {}` would be a braced temporary in this
    // co_await, which GCC 12 frees twice.
    const pg::PoolOptions options;
    auto peers_pool = co_await testing::FreshPool(peers, options);
    s.peers = MakePeers(executor, peers_pool, peers, s.heard);
    co_await s.peers->Start();
    co_return s;
}

// A priced order of `mugs` mugs for a new user.
Order MugOrder(std::int64_t mugs) {
    Order order;
    order.user_id = Uuid::V7().ToString();
    order.items = {OrderLine{kMug, mugs, 1200}};
    order.total = 1200 * mugs;
    order.currency = "USD";
    return order;
}

Task<Order> PlacePending(Saga& s, std::int64_t mugs) {
    auto order = MugOrder(mugs);
    const auto hash = MakeOrderRequest(order.items).hash;
    const auto origin = s.orders->FromRequest("req-" + hash.substr(0, 8), "", "test");
    auto placed = co_await s.store->Place(std::move(order), Uuid::V7().ToString(), hash, origin);
    co_return std::move(placed.order.value());
}

// Emits one event from the stand-in; returns its event id.
Task<std::string> Publish(bus::Bus& peers, std::string topic, json::value payload) {
    std::string id;
    const auto origin = peers.FromRequest("", "", "test");
    auto body = [&](pg::Connection& c) -> Task<void> {
        id = co_await peers.Emit(c, topic, payload, origin);
    };
    co_await peers.Transaction(body);
    co_return id;
}

json::value Captured(const Order& order, const std::string& payment_id) {
    return json::object{{"payment_id", payment_id},   {"order_id", order.id},
                        {"user_id", order.user_id},   {"amount", order.total},
                        {"currency", order.currency}, {"captured_at", bus::NowMicros() / 1000}};
}

json::value Declined(const Order& order) {
    return json::object{{"order_id", order.id},
                        {"user_id", order.user_id},
                        {"amount", order.total},
                        {"reason", "insufficient funds"}};
}

json::value Rejected(const Order& order) {
    return json::object{
        {"order_id", order.id}, {"user_id", order.user_id}, {"reason", "insufficient stock"}};
}

// An order orders has never seen.
Order Unknown() {
    Order order;
    order.id = Uuid::V7().ToString();
    order.user_id = Uuid::V7().ToString();
    order.total = 100;
    order.currency = "USD";
    return order;
}

// The same event again under a new message id, as `keel-bus dlq retry` or a replay
// delivers it.
void Redeliver(bus::Bus& peers, const std::string& topic, const json::value& payload,
               const std::string& event_id, int copy) {
    const auto bytes = peers.GetCodec().Encode(topic, payload);
    auto msg = bus::NewMsg(topic, bytes);
    bus::SetHeader(msg.get(), bus::header::kEventId, event_id);
    peers.Connection()->Publish(msg.get(), "again-" + std::to_string(copy) + "-" + event_id);
}

// Whether orders' consumers have handled (and committed) every event in `ids`.
std::function<Task<bool>()> Handled(std::shared_ptr<pg::Pool> pool, std::vector<std::string> ids) {
    return [pool, ids]() -> Task<bool> {
        for (const auto& id : ids) {
            auto r =
                co_await pool->Execute("SELECT count(*) FROM bus_inbox WHERE event_id = $1", id);
            if (r.Int(0, 0) == 0) co_return false;
        }
        co_return true;
    };
}

std::function<Task<bool>()> HeardCount(std::shared_ptr<Heard> heard, std::string topic,
                                       std::size_t count) {
    return [heard, topic, count]() -> Task<bool> { co_return heard->Count(topic) >= count; };
}

KEEL_CORO_TEST(Saga, ACapturedPaymentConfirmsTheOrder) {
    auto s = co_await StartSaga("orders_saga_confirm");
    const auto order = co_await PlacePending(s, 2);
    const auto payment_id = Uuid::V7().ToString();
    const auto capture = co_await Publish(*s.peers, kCaptured, Captured(order, payment_id));
    EXPECT_TRUE(co_await WaitUntil(HeardCount(s.heard, kConfirmed, 1)));

    const auto confirmed = s.heard->Of(kConfirmed, order.id);
    EXPECT_EQ(confirmed.size(), 1u);
    if (confirmed.size() == 1) {
        const auto& e = confirmed.front();
        EXPECT_EQ(e.envelope.causation_id, capture);
        EXPECT_EQ(e.payload.at("user_id").as_string(), order.user_id);
        EXPECT_EQ(e.payload.at("payment_id").as_string(), payment_id);
        EXPECT_EQ(e.payload.at("total").to_number<std::int64_t>(), 2400);
        EXPECT_EQ(e.payload.at("currency").as_string(), "USD");
        const auto& items = e.payload.at("items").as_array();
        EXPECT_EQ(items.size(), 1u);
        if (items.size() == 1) {
            EXPECT_EQ(items[0].at("product_id").as_string(), kMug);
            EXPECT_EQ(items[0].at("quantity").to_number<std::int64_t>(), 2);
            EXPECT_EQ(items[0].at("unit_price").to_number<std::int64_t>(), 1200);
        }
    }
    const auto stored = co_await s.store->Get(order.id);
    EXPECT_TRUE(stored && stored->status == "CONFIRMED" && stored->payment_id == payment_id &&
                !stored->reason);
    EXPECT_EQ(s.heard->Count(kCancelled), 0u);
    co_await s.Stop();
}

KEEL_CORO_TEST(Saga, ARejectionOrADeclineCancelsTheOrderForCatalogToRelease) {
    auto s = co_await StartSaga("orders_saga_cancel");
    const auto no_stock = co_await PlacePending(s, 1);
    const auto no_money = co_await PlacePending(s, 3);
    const auto rejection = co_await Publish(*s.peers, kRejected, Rejected(no_stock));
    co_await Publish(*s.peers, kDeclined, Declined(no_money));
    EXPECT_TRUE(co_await WaitUntil(HeardCount(s.heard, kCancelled, 2)));

    const auto stock = s.heard->Of(kCancelled, no_stock.id);
    const auto money = s.heard->Of(kCancelled, no_money.id);
    EXPECT_EQ(stock.size(), 1u);
    EXPECT_EQ(money.size(), 1u);
    if (stock.size() == 1 && money.size() == 1) {
        // What catalog releases: the lines of the order.
        EXPECT_EQ(stock[0].envelope.causation_id, rejection);
        EXPECT_EQ(stock[0].payload.at("reason").as_string(), "stock: insufficient stock");
        EXPECT_EQ(stock[0].payload.at("items").as_array().size(), 1u);
        EXPECT_EQ(stock[0].payload.at("total").to_number<std::int64_t>(), 1200);
        EXPECT_EQ(money[0].payload.at("reason").as_string(), "payment: insufficient funds");
        EXPECT_EQ(money[0].payload.at("items").at(0).at("quantity").to_number<std::int64_t>(), 3);
        EXPECT_EQ(money[0].payload.at("user_id").as_string(), no_money.user_id);
    }
    const auto a = co_await s.store->Get(no_stock.id);
    const auto b = co_await s.store->Get(no_money.id);
    EXPECT_TRUE(a && a->status == "CANCELLED" && a->reason == "stock: insufficient stock");
    EXPECT_TRUE(b && b->status == "CANCELLED" && b->reason == "payment: insufficient funds" &&
                !b->payment_id);
    EXPECT_EQ(s.heard->Count(kConfirmed), 0u);
    co_await s.Stop();
}

KEEL_CORO_TEST(Saga, ARedeliveredOrRepeatedEventAppliesOnce) {
    auto s = co_await StartSaga("orders_saga_once");
    const auto order = co_await PlacePending(s, 1);
    const auto payment_id = Uuid::V7().ToString();
    const auto payload = Captured(order, payment_id);
    const auto capture = co_await Publish(*s.peers, kCaptured, payload);
    EXPECT_TRUE(co_await WaitUntil(HeardCount(s.heard, kConfirmed, 1)));
    const auto first = co_await s.store->Get(order.id);

    // The same event twice more (the inbox skips it), then another capture and a
    // late decline of the same order (the state check skips them).
    Redeliver(*s.peers, kCaptured, payload, capture, 1);
    Redeliver(*s.peers, kCaptured, payload, capture, 2);
    const auto second =
        co_await Publish(*s.peers, kCaptured, Captured(order, Uuid::V7().ToString()));
    const auto decline = co_await Publish(*s.peers, kDeclined, Declined(order));
    std::vector<std::string> later(1, capture);
    later.push_back(second);
    later.push_back(decline);
    EXPECT_TRUE(co_await WaitUntil(Handled(s.pool, later)));
    co_await keel::testing::Sleep(std::chrono::milliseconds(500));  // room for a wrong event

    EXPECT_EQ(s.heard->Count(kConfirmed), 1u);
    EXPECT_EQ(s.heard->Count(kCancelled), 0u);
    const auto now = co_await s.store->Get(order.id);
    EXPECT_TRUE(now && first && now->status == "CONFIRMED" && now->payment_id == payment_id &&
                now->updated_at == first->updated_at && !now->reason);
    auto inbox = co_await s.pool->Execute("SELECT count(*) FROM bus_inbox");
    EXPECT_EQ(inbox.Int(0, 0), 3);  // the capture once, the second capture, the decline
    EXPECT_EQ(DeadLetters(), 0);
    co_await s.Stop();
}

KEEL_CORO_TEST(Saga, EventsForUnknownOrFinalOrdersChangeNothing) {
    auto s = co_await StartSaga("orders_saga_final");
    const auto confirmed = co_await PlacePending(s, 1);
    const auto cancelled = co_await PlacePending(s, 1);
    const auto payment_id = Uuid::V7().ToString();
    co_await Publish(*s.peers, kCaptured, Captured(confirmed, payment_id));
    co_await Publish(*s.peers, kRejected, Rejected(cancelled));
    EXPECT_TRUE(co_await WaitUntil(HeardCount(s.heard, kConfirmed, 1)));
    EXPECT_TRUE(co_await WaitUntil(HeardCount(s.heard, kCancelled, 1)));
    const auto confirmed_before = co_await s.store->Get(confirmed.id);
    const auto cancelled_before = co_await s.store->Get(cancelled.id);

    const auto unknown = Unknown();
    std::vector<std::string> late;
    late.push_back(co_await Publish(*s.peers, kCaptured, Captured(unknown, payment_id)));
    late.push_back(co_await Publish(*s.peers, kRejected, Rejected(unknown)));
    late.push_back(co_await Publish(*s.peers, kDeclined, Declined(unknown)));
    late.push_back(co_await Publish(*s.peers, kRejected, Rejected(confirmed)));
    late.push_back(co_await Publish(*s.peers, kDeclined, Declined(confirmed)));
    late.push_back(
        co_await Publish(*s.peers, kCaptured, Captured(cancelled, Uuid::V7().ToString())));
    EXPECT_TRUE(co_await WaitUntil(Handled(s.pool, late)));
    co_await keel::testing::Sleep(std::chrono::milliseconds(500));  // room for a wrong event

    EXPECT_EQ(s.heard->Count(kConfirmed), 1u);
    EXPECT_EQ(s.heard->Count(kCancelled), 1u);
    const auto confirmed_after = co_await s.store->Get(confirmed.id);
    const auto cancelled_after = co_await s.store->Get(cancelled.id);
    EXPECT_TRUE(confirmed_before && confirmed_after && confirmed_after->status == "CONFIRMED" &&
                confirmed_after->payment_id == payment_id && !confirmed_after->reason &&
                confirmed_after->updated_at == confirmed_before->updated_at);
    EXPECT_TRUE(cancelled_before && cancelled_after && cancelled_after->status == "CANCELLED" &&
                cancelled_after->reason == "stock: insufficient stock" &&
                !cancelled_after->payment_id &&
                cancelled_after->updated_at == cancelled_before->updated_at);
    EXPECT_FALSE((co_await s.store->Get(unknown.id)).has_value());
    auto count = co_await s.pool->Execute("SELECT count(*) FROM orders");
    EXPECT_EQ(count.Int(0, 0), 2);
    EXPECT_EQ(DeadLetters(), 0);
    co_await s.Stop();
}

// Places `count` orders and moves their placement `age` into the past.
Task<std::vector<Order>> PlaceAged(Saga& s, int count, std::chrono::seconds age) {
    std::vector<Order> out;
    for (int i = 0; i < count; ++i) {
        auto order = co_await PlacePending(s, 1 + i % 3);
        co_await s.pool->Execute(
            "UPDATE orders SET created_at = created_at - make_interval(secs => $2) WHERE id = $1",
            order.id, static_cast<std::int64_t>(age.count()));
        out.push_back(std::move(order));
    }
    co_return out;
}

Task<void> SweepInto(std::shared_ptr<OrderStore> store, std::size_t* cancelled) {
    *cancelled = co_await SweepPendingOrders(store, std::chrono::seconds(30));
}

KEEL_CORO_TEST(Saga, PendingPastItsDeadlineIsCancelledOnceForCatalogToRelease) {
    auto s = co_await StartSaga("orders_saga_timeout");
    const int kExpired = kSweepBatch + 30;  // more than one batch
    const auto expired = co_await PlaceAged(s, kExpired, std::chrono::seconds(31));
    const auto young = co_await PlacePending(s, 1);

    // Three instances sweep at once, twice each: every expired order is cancelled by
    // exactly one of them.
    auto other_instance = std::make_shared<OrderStore>(s.pool, s.orders);
    std::vector<std::size_t> counts(6, 0);
    std::vector<Task<void>> sweeps;
    for (std::size_t i = 0; i < counts.size(); ++i)
        sweeps.push_back(SweepInto(i % 2 == 0 ? s.store : other_instance, &counts[i]));
    co_await keel::testing::RunConcurrently(std::move(sweeps));
    std::size_t total = 0;
    for (auto n : counts) total += n;
    EXPECT_EQ(total, static_cast<std::size_t>(kExpired));
    EXPECT_EQ(co_await SweepPendingOrders(s.store, std::chrono::seconds(30)), 0u);

    EXPECT_TRUE(co_await WaitUntil(HeardCount(s.heard, kCancelled, kExpired)));
    co_await keel::testing::Sleep(std::chrono::milliseconds(500));  // room for a duplicate
    EXPECT_EQ(s.heard->Count(kCancelled), static_cast<std::size_t>(kExpired));
    const auto& first = expired.front();
    const auto heard = s.heard->Of(kCancelled, first.id);
    EXPECT_EQ(heard.size(), 1u);
    if (heard.size() == 1) {
        // What catalog releases: the order's lines, under the order's correlation id.
        const auto& e = heard.front();
        EXPECT_EQ(e.envelope.correlation_id, first.correlation_id);
        EXPECT_EQ(e.payload.at("reason").as_string(), "timeout: not paid within 30 s");
        EXPECT_EQ(e.payload.at("items").at(0).at("product_id").as_string(), kMug);
        EXPECT_EQ(e.payload.at("items").at(0).at("quantity").to_number<std::int64_t>(), 1);
        EXPECT_EQ(e.payload.at("total").to_number<std::int64_t>(), first.total);
    }
    const auto stored = co_await s.store->Get(first.id);
    EXPECT_TRUE(stored && stored->status == "CANCELLED" && !stored->payment_id &&
                stored->reason == "timeout: not paid within 30 s");
    const auto still = co_await s.store->Get(young.id);
    EXPECT_TRUE(still && still->status == "PENDING");

    // The capture that raced the deadline arrives late: the order stays cancelled
    // (payments refunds it on orders.order_cancelled.v1).
    const auto late = co_await Publish(*s.peers, kCaptured, Captured(first, Uuid::V7().ToString()));
    std::vector<std::string> ids(1, late);
    EXPECT_TRUE(co_await WaitUntil(Handled(s.pool, ids)));
    const auto after = co_await s.store->Get(first.id);
    EXPECT_TRUE(after && stored && after->status == "CANCELLED" && !after->payment_id &&
                after->updated_at == stored->updated_at);
    EXPECT_EQ(s.heard->Count(kConfirmed), 0u);
    co_await s.Stop();
}

// A saga step and the sweeper on the same order: whichever commits first decides, the
// other changes nothing.
KEEL_CORO_TEST(Saga, AConfirmedOrderIsNotSweptAndASweptOneIsNotConfirmed) {
    auto s = co_await StartSaga("orders_saga_timeout_race");
    const auto aged = co_await PlaceAged(s, 2, std::chrono::seconds(60));
    const auto payment_id = Uuid::V7().ToString();
    const auto capture = co_await Publish(*s.peers, kCaptured, Captured(aged[0], payment_id));
    std::vector<std::string> ids(1, capture);
    EXPECT_TRUE(co_await WaitUntil(Handled(s.pool, ids)));
    EXPECT_EQ(co_await SweepPendingOrders(s.store, std::chrono::seconds(30)), 1u);
    const auto confirmed = co_await s.store->Get(aged[0].id);
    const auto cancelled = co_await s.store->Get(aged[1].id);
    EXPECT_TRUE(confirmed && confirmed->status == "CONFIRMED" &&
                confirmed->payment_id == payment_id);
    EXPECT_TRUE(cancelled && cancelled->status == "CANCELLED");
    EXPECT_TRUE(co_await WaitUntil(HeardCount(s.heard, kCancelled, 1)));
    EXPECT_EQ(s.heard->Of(kCancelled, aged[0].id).size(), 0u);
    co_await s.Stop();
}

}  // namespace
}  // namespace keel::orders
