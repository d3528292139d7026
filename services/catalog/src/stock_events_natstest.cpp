// Stock reservations of the checkout saga against real PostgreSQL, NATS and Redis:
// through the bus as deployed, and concurrent transactions fighting for the last unit.
#include <algorithm>
#include <functional>
#include <mutex>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <keel/bus/nats.hpp>
#include <keel/core/uuid.hpp>
#include <keel/testing/bus.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/servers.hpp>

#include "migrations.hpp"
#include "reservation_store.hpp"
#include "stock_events.hpp"

namespace keel::catalog {
namespace {
namespace json = boost::json;
using keel::testing::NatsServer;
using keel::testing::RedisServer;

const std::string kMug = "00000000-0000-4000-8000-000000000001";
const std::string kTee = "00000000-0000-4000-8000-000000000002";
const std::string kCap = "00000000-0000-4000-8000-000000000009";
const std::string kUnknown = "00000000-0000-4000-8000-0000000000ff";
const std::string kUser = "0190a5a4-0000-7000-8000-0000000000aa";

// Empty ORDERS and CATALOG streams, so that no test sees another's events.
void PurgeStreams() {
    auto nats = bus::Nats::Connect({{NatsServer::Shared().Url()}, "test", std::chrono::seconds(5)});
    for (const char* stream : {"ORDERS", "CATALOG", "DLQ"})
        nats->ApiRequest(std::string("STREAM.PURGE.") + stream, "");
}

// catalog's database, with room for the concurrent transactions of a test.
Task<std::shared_ptr<pg::Pool>> CatalogDatabase(const std::string& name) {
    pg::PoolOptions options;
    options.max_size = 24;
    co_return co_await testing::MigratedPool(name, Migrations(), "catalog", options);
}

std::shared_ptr<ProductCache> Cache(asio::any_io_executor executor) {
    redis::ClientOptions options;
    options.port = RedisServer::Shared().Port();
    return std::make_shared<ProductCache>(redis::Client::Create(std::move(executor), options),
                                          std::chrono::seconds(300));
}

// One catalog instance, wired as main.cpp wires it.
struct CatalogInstance {
    std::shared_ptr<bus::Bus> bus;
    std::shared_ptr<ReservationStore> reservations;
};

CatalogInstance MakeCatalog(asio::any_io_executor executor, const std::shared_ptr<pg::Pool>& pool,
                            const std::shared_ptr<ProductCache>& cache, const std::string& service,
                            const std::string& instance, bool consume = true) {
    CatalogInstance c;
    c.bus = bus::Bus::Create(std::move(executor), pool,
                             keel::testing::TestBusSettings(service, instance));
    c.bus->Publishes("catalog.stock_reserved.v1");
    c.bus->Publishes("catalog.stock_rejected.v1");
    c.reservations = std::make_shared<ReservationStore>(pool, c.bus);
    auto invalidator = std::make_shared<CommittedStockInvalidator>(cache);
    if (consume) {
        c.bus->Subscribe("orders.order_placed.v1",
                         ReserveStockOnOrderPlaced(c.reservations, invalidator));
        c.bus->Subscribe("orders.order_cancelled.v1",
                         ReleaseStockOnOrderCancelled(c.reservations, invalidator));
    }
    return c;
}

Task<void> AddProduct(pg::Pool& pool, const std::string& id, int stock) {
    co_await pool.Execute(
        "INSERT INTO products (id, sku, name, price_minor, currency, stock) "
        "VALUES ($1::uuid, $2, 'sample', 1200, 'USD', $3)",
        id, "SKU-" + id, stock);
}

Task<std::int64_t> Stock(pg::Pool& pool, const std::string& id) {
    auto rows = co_await pool.Execute("SELECT stock FROM products WHERE id = $1::uuid", id);
    co_return rows.Int(0, 0);
}

Task<std::string> Status(pg::Pool& pool, const std::string& order_id) {
    auto rows = co_await pool.Execute("SELECT status FROM reservations WHERE order_id = $1::uuid",
                                      order_id);
    co_return rows.Rows() == 0 ? std::string("(none)") : std::string(rows.Text(0, 0));
}

// Events handled by the catalog consumer of the topic containing `topic_part`.
Task<std::int64_t> Inbox(pg::Pool& pool, const std::string& topic_part) {
    auto rows = co_await pool.Execute(
        "SELECT count(*) FROM bus_inbox WHERE consumer LIKE '%' || $1 || '%'", topic_part);
    co_return rows.Int(0, 0);
}

using Lines = std::vector<std::pair<std::string, int>>;

json::value OrderPayload(const std::string& order_id, const Lines& lines) {
    json::array items;
    std::int64_t total = 0;
    for (const auto& line : lines) {
        json::object item;
        item["product_id"] = line.first;
        item["quantity"] = line.second;
        item["unit_price"] = 1200;
        total += 1200LL * line.second;
        items.push_back(std::move(item));
    }
    json::object payload;
    payload["order_id"] = order_id;
    payload["user_id"] = kUser;
    payload["items"] = std::move(items);
    payload["total"] = total;
    payload["currency"] = "USD";
    return payload;
}

json::value Placed(const std::string& order_id, const Lines& lines) {
    auto payload = OrderPayload(order_id, lines);
    payload.as_object()["placed_at"] = bus::NowMicros() / 1000;
    return payload;
}

json::value Cancelled(const std::string& order_id, const Lines& lines) {
    auto payload = OrderPayload(order_id, lines);
    payload.as_object()["reason"] = "payment declined";
    return payload;
}

// What the orders service sees of catalog: its answers, by order id.
class Answers final {
public:
    void Add(std::span<const bus::Event> events) {
        std::lock_guard lock(mutex_);
        for (const auto& e : events) events_.push_back(e);
    }
    std::vector<bus::Event> For(const std::string& order_id) {
        std::lock_guard lock(mutex_);
        std::vector<bus::Event> out;
        for (const auto& e : events_)
            if (e.payload.at("order_id").as_string() == order_id) out.push_back(e);
        return out;
    }
    std::size_t Count(const std::string& topic) {
        std::lock_guard lock(mutex_);
        return static_cast<std::size_t>(
            std::count_if(events_.begin(), events_.end(),
                          [&](const bus::Event& e) { return e.envelope.topic == topic; }));
    }
    std::size_t Size() {
        std::lock_guard lock(mutex_);
        return events_.size();
    }

private:
    std::mutex mutex_;
    std::vector<bus::Event> events_;
};

Task<void> Done() { co_return; }

// A stand-in for the orders service: publishes its events, records catalog's answers.
std::shared_ptr<bus::Bus> MakeOrders(asio::any_io_executor executor, std::shared_ptr<pg::Pool> pool,
                                     const std::string& service,
                                     const std::shared_ptr<Answers>& answers) {
    auto orders = bus::Bus::Create(std::move(executor), std::move(pool),
                                   keel::testing::TestBusSettings(service, service + "-1"));
    orders->Publishes("orders.order_placed.v1");
    orders->Publishes("orders.order_cancelled.v1");
    for (const char* topic : {"catalog.stock_reserved.v1", "catalog.stock_rejected.v1"}) {
        orders->SubscribePlain(topic, [answers](std::span<const bus::Event> events) {
            answers->Add(events);
            return Done();
        });
    }
    return orders;
}

// Emits one event from the orders stand-in; returns its event id.
Task<std::string> Publish(bus::Bus& orders, const std::string& topic, const json::value& payload) {
    std::string id;
    const auto origin = orders.FromRequest("", "", "test");
    auto body = [&](pg::Connection& c) -> Task<void> {
        id = co_await orders.Emit(c, topic, payload, origin);
    };
    co_await orders.Transaction(body);
    co_return id;
}

KEEL_CORO_TEST(Reservations, ReserveRejectAndReleaseThroughTheBus) {
    auto ex = co_await asio::this_coro::executor;
    PurgeStreams();
    auto pool = co_await CatalogDatabase("catalog_saga");
    auto orders_pool = co_await testing::FreshPool("catalog_saga_orders");
    co_await AddProduct(*pool, kMug, 5);
    co_await AddProduct(*pool, kTee, 1);
    co_await AddProduct(*pool, kCap, 7);
    auto cache = Cache(ex);
    const std::vector<std::string> products = {kMug, kTee, kCap};
    for (const auto& id : products) co_await cache->Put(id, "{\"cached\":true}");
    auto catalog = MakeCatalog(ex, pool, cache, "catalogsaga", "catalogsaga-1");
    auto answers = std::make_shared<Answers>();
    auto orders = MakeOrders(ex, orders_pool, "orderssaga", answers);
    co_await catalog.bus->Start();
    co_await orders->Start();
    auto answered = [&](const std::string& order_id) -> std::function<Task<bool>()> {
        return [answers, order_id]() -> Task<bool> { co_return !answers->For(order_id).empty(); };
    };

    // Enough of both (the mug on two lines): reserved, stock taken, cache entries gone.
    const auto o1 = Uuid::V7().ToString();
    const Lines o1_lines = {{kMug, 1}, {kTee, 1}, {kMug, 1}};
    const auto placed_id =
        co_await Publish(*orders, "orders.order_placed.v1", Placed(o1, o1_lines));
    EXPECT_TRUE(co_await keel::testing::WaitUntil(answered(o1)));
    auto o1_answers = answers->For(o1);
    EXPECT_EQ(o1_answers.size(), 1u);
    if (!o1_answers.empty()) {
        const auto& e = o1_answers.front();
        EXPECT_EQ(e.envelope.topic, "catalog.stock_reserved.v1");
        EXPECT_EQ(e.envelope.causation_id, placed_id);
        EXPECT_EQ(e.payload.at("user_id").as_string(), kUser);
        EXPECT_EQ(e.payload.at("total").as_int64(), 3600);
        EXPECT_EQ(e.payload.at("currency").as_string(), "USD");
    }
    EXPECT_EQ(co_await Stock(*pool, kMug), 3);
    EXPECT_EQ(co_await Stock(*pool, kTee), 0);
    EXPECT_EQ(co_await Status(*pool, o1), "reserved");
    auto evicted = [&]() -> Task<bool> {
        const auto mug = co_await cache->Get(kMug);
        const auto tee = co_await cache->Get(kTee);
        co_return !mug && !tee;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(evicted));
    EXPECT_TRUE((co_await cache->Get(kCap)).has_value());  // not in the order: still cached
    auto summary = co_await catalog.reservations->Summarize();
    EXPECT_EQ(summary.reserved_units, 3);
    EXPECT_EQ(summary.reserved, 1);

    // The tee is gone: rejected, naming it; nothing taken (the mug keeps its 3).
    const auto o2 = Uuid::V7().ToString();
    const Lines o2_lines = {{kMug, 1}, {kTee, 1}};
    co_await Publish(*orders, "orders.order_placed.v1", Placed(o2, o2_lines));
    // An unknown product and too many caps: both named.
    const auto o3 = Uuid::V7().ToString();
    const Lines o3_lines = {{kUnknown, 1}, {kCap, 8}};
    co_await Publish(*orders, "orders.order_placed.v1", Placed(o3, o3_lines));
    EXPECT_TRUE(co_await keel::testing::WaitUntil(answered(o3)));
    auto o2_answers = answers->For(o2);
    auto o3_answers = answers->For(o3);
    EXPECT_EQ(o2_answers.size(), 1u);
    EXPECT_EQ(o3_answers.size(), 1u);
    if (!o2_answers.empty() && !o3_answers.empty()) {
        EXPECT_EQ(o2_answers.front().envelope.topic, "catalog.stock_rejected.v1");
        EXPECT_EQ(o2_answers.front().payload.at("reason").as_string(),
                  "insufficient stock for " + kTee);
        EXPECT_EQ(o3_answers.front().payload.at("reason").as_string(),
                  "insufficient stock for " + kCap + "; unknown product " + kUnknown);
    }
    EXPECT_EQ(co_await Stock(*pool, kMug), 3);
    EXPECT_EQ(co_await Stock(*pool, kCap), 7);
    EXPECT_EQ(co_await Status(*pool, o2), "rejected");

    // o1 placed again under another event id: already decided, no second answer.
    co_await Publish(*orders, "orders.order_placed.v1", Placed(o1, o1_lines));
    // Cancelling o1 gives its stock back, once; cancelling the rejected o2 or an
    // order catalog never saw changes no stock (that one leaves a tombstone).
    co_await cache->Put(kMug, "{\"cached\":true}");
    co_await Publish(*orders, "orders.order_cancelled.v1", Cancelled(o1, o1_lines));
    co_await Publish(*orders, "orders.order_cancelled.v1", Cancelled(o1, o1_lines));
    co_await Publish(*orders, "orders.order_cancelled.v1", Cancelled(o2, o2_lines));
    const Lines never_lines = {{kMug, 1}};
    co_await Publish(*orders, "orders.order_cancelled.v1",
                     Cancelled(Uuid::V7().ToString(), never_lines));
    // Every event handled: 4 placed, 4 cancelled (each recorded in the inbox).
    auto handled = [&]() -> Task<bool> {
        const auto placed = co_await Inbox(*pool, "order_placed");
        const auto cancelled = co_await Inbox(*pool, "order_cancelled");
        co_return placed == 4 && cancelled == 4;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(handled));
    co_await keel::testing::Sleep(
        std::chrono::milliseconds(300));  // an answer to the duplicate would be here by now
    EXPECT_EQ(answers->For(o1).size(), 1u);
    EXPECT_EQ(answers->Size(), 3u);
    EXPECT_EQ(co_await Status(*pool, o1), "released");
    EXPECT_EQ(co_await Stock(*pool, kMug), 5);
    EXPECT_EQ(co_await Stock(*pool, kTee), 1);
    EXPECT_EQ(co_await Stock(*pool, kCap), 7);
    EXPECT_EQ(co_await Status(*pool, o2), "rejected");
    auto mug_evicted = [&]() -> Task<bool> { co_return !(co_await cache->Get(kMug)); };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(mug_evicted));
    summary = co_await catalog.reservations->Summarize();
    EXPECT_EQ(summary.reserved_units, 0);
    EXPECT_EQ(summary.reserved, 0);
    EXPECT_EQ(summary.rejected, 2);
    EXPECT_EQ(summary.released, 1);
    EXPECT_EQ(summary.tombstones, 1);  // the order catalog never saw
    auto dead =
        co_await pool->Execute("SELECT count(*) FROM bus_outbox WHERE published_at IS NULL");
    EXPECT_EQ(dead.Int(0, 0), 0);
    co_await orders->Stop();
    co_await catalog.bus->Stop();
}

Task<void> Hold(std::shared_ptr<pg::Pool> pool) { co_await pool->Execute("SELECT pg_sleep(0.1)"); }

Task<void> ReserveInTransaction(std::shared_ptr<bus::Bus> bus, bus::BatchHandler handler,
                                bus::Event event) {
    auto body = [&](pg::Connection& c) -> Task<void> {
        const std::span<const bus::Event> events(&event, 1);
        co_await handler(c, events);
    };
    co_await bus->Transaction(body);
}

// Runs `count` reservations at once, each in its own consumer transaction on its own
// connection, as concurrent batches of several instances would; returns the first
// error ("" when none).
Task<std::string> ReserveConcurrently(CatalogInstance& catalog, std::shared_ptr<pg::Pool> pool,
                                      std::shared_ptr<ProductCache> cache,
                                      std::function<Lines(int)> lines_of, int count) {
    // Open the connections first, so that the transactions really overlap.
    std::vector<Task<void>> holds;
    holds.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) holds.push_back(Hold(pool));
    co_await testing::RunConcurrently(std::move(holds));
    auto handler = ReserveStockOnOrderPlaced(catalog.reservations,
                                             std::make_shared<CommittedStockInvalidator>(cache));
    std::vector<Task<void>> reservations;
    reservations.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        bus::Event event;
        event.envelope.event_id = Uuid::V7().ToString();
        event.envelope.topic = "orders.order_placed.v1";
        event.payload = Placed(Uuid::V7().ToString(), lines_of(i));
        event.next = catalog.bus->FromRequest("", "", "test");
        reservations.push_back(ReserveInTransaction(catalog.bus, handler, std::move(event)));
    }
    std::string error;
    try {
        co_await testing::RunConcurrently(std::move(reservations));
    } catch (const std::exception& e) {
        error = e.what();
    }
    co_return error;
}

Task<std::int64_t> Outbox(pg::Pool& pool, const std::string& topic) {
    auto rows = co_await pool.Execute("SELECT count(*) FROM bus_outbox WHERE topic = $1", topic);
    co_return rows.Int(0, 0);
}

KEEL_CORO_TEST(Reservations, TheLastUnitGoesToExactlyOneOrder) {
    auto ex = co_await asio::this_coro::executor;
    PurgeStreams();
    auto pool = co_await CatalogDatabase("catalog_last_unit");
    co_await AddProduct(*pool, kMug, 1);
    auto cache = Cache(ex);
    auto catalog = MakeCatalog(ex, pool, cache, "cataloglast", "cataloglast-1", false);
    co_await catalog.bus->Start();

    auto one_mug = [](int) { return Lines{{kMug, 1}}; };
    EXPECT_EQ(co_await ReserveConcurrently(catalog, pool, cache, one_mug, 12), "");
    EXPECT_EQ(co_await Stock(*pool, kMug), 0);
    EXPECT_EQ(co_await Outbox(*pool, "catalog.stock_reserved.v1"), 1);
    EXPECT_EQ(co_await Outbox(*pool, "catalog.stock_rejected.v1"), 11);
    const auto summary = co_await catalog.reservations->Summarize();
    EXPECT_EQ(summary.reserved, 1);
    EXPECT_EQ(summary.rejected, 11);
    EXPECT_EQ(summary.reserved_units, 1);
    co_await catalog.bus->Stop();
}

KEEL_CORO_TEST(Reservations, OrdersLockingProductsInOppositeOrderNeitherDeadlockNorOversell) {
    auto ex = co_await asio::this_coro::executor;
    PurgeStreams();
    auto pool = co_await CatalogDatabase("catalog_two_products");
    co_await AddProduct(*pool, kMug, 3);
    co_await AddProduct(*pool, kTee, 3);
    auto cache = Cache(ex);
    auto catalog = MakeCatalog(ex, pool, cache, "catalogtwo", "catalogtwo-1", false);
    co_await catalog.bus->Start();

    auto both = [](int i) {
        return i % 2 ? Lines{{kTee, 1}, {kMug, 1}} : Lines{{kMug, 1}, {kTee, 1}};
    };
    EXPECT_EQ(co_await ReserveConcurrently(catalog, pool, cache, both, 10), "");
    EXPECT_EQ(co_await Stock(*pool, kMug), 0);
    EXPECT_EQ(co_await Stock(*pool, kTee), 0);
    EXPECT_EQ(co_await Outbox(*pool, "catalog.stock_reserved.v1"), 3);
    EXPECT_EQ(co_await Outbox(*pool, "catalog.stock_rejected.v1"), 7);
    EXPECT_EQ((co_await catalog.reservations->Summarize()).reserved_units, 6);
    co_await catalog.bus->Stop();
}

KEEL_CORO_TEST(Reservations, TwoInstancesSellExactlyTheStock) {
    auto ex = co_await asio::this_coro::executor;
    PurgeStreams();
    auto pool = co_await CatalogDatabase("catalog_two_instances");
    auto orders_pool = co_await testing::FreshPool("catalog_two_instances_orders");
    co_await AddProduct(*pool, kMug, 10);
    co_await AddProduct(*pool, kTee, 4);
    auto cache = Cache(ex);
    auto first = MakeCatalog(ex, pool, cache, "catalogpair", "catalogpair-1");
    auto second = MakeCatalog(ex, pool, cache, "catalogpair", "catalogpair-2");
    auto answers = std::make_shared<Answers>();
    auto orders = MakeOrders(ex, orders_pool, "orderspair", answers);
    co_await first.bus->Start();
    co_await second.bus->Start();
    co_await orders->Start();

    constexpr int kOrders = 30;
    for (int i = 0; i < kOrders; ++i) {
        const Lines lines = i % 3 ? Lines{{kMug, 1}} : Lines{{kTee, 1}, {kMug, 1}};
        co_await Publish(*orders, "orders.order_placed.v1", Placed(Uuid::V7().ToString(), lines));
    }
    auto all = [&]() -> Task<bool> { co_return answers->Size() >= kOrders; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(all, std::chrono::seconds(40)));
    co_await keel::testing::Sleep(std::chrono::milliseconds(300));
    EXPECT_EQ(answers->Size(), static_cast<std::size_t>(kOrders));
    EXPECT_EQ(answers->Count("catalog.stock_reserved.v1"), 10u);
    EXPECT_EQ(co_await Stock(*pool, kMug), 0);
    const auto summary = co_await first.reservations->Summarize();
    EXPECT_EQ(summary.reserved, 10);
    EXPECT_EQ(summary.rejected, kOrders - 10);
    EXPECT_EQ(summary.reserved_units + co_await Stock(*pool, kTee), 10 + 4);
    co_await orders->Stop();
    co_await first.bus->Stop();
    co_await second.bus->Stop();
}

// Catalog behind by more than the pending deadline: the sweeper's cancellation is
// handled before the placement. The placement must then reserve nothing.
KEEL_CORO_TEST(Reservations, ACancellationBeforeThePlacementReservesNothing) {
    auto ex = co_await asio::this_coro::executor;
    PurgeStreams();
    auto pool = co_await CatalogDatabase("catalog_tombstone");
    auto orders_pool = co_await testing::FreshPool("catalog_tombstone_orders");
    co_await AddProduct(*pool, kMug, 5);
    auto cache = Cache(ex);
    auto catalog = MakeCatalog(ex, pool, cache, "catalogtomb", "catalogtomb-1");
    auto answers = std::make_shared<Answers>();
    auto orders = MakeOrders(ex, orders_pool, "orderstomb", answers);
    co_await catalog.bus->Start();
    co_await orders->Start();

    const auto order = Uuid::V7().ToString();
    const Lines lines = {{kMug, 2}};
    co_await Publish(*orders, "orders.order_cancelled.v1", Cancelled(order, lines));
    auto cancelled = [&]() -> Task<bool> {
        co_return co_await Inbox(*pool, "order_cancelled") == 1;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(cancelled));
    EXPECT_EQ(co_await Status(*pool, order), "cancelled");
    EXPECT_EQ((co_await catalog.reservations->Summarize()).tombstones, 1);

    // The placement, delivered twice (two event ids): one rejection, no stock taken.
    co_await Publish(*orders, "orders.order_placed.v1", Placed(order, lines));
    co_await Publish(*orders, "orders.order_placed.v1", Placed(order, lines));
    // And the cancellation again: nothing to release, nothing to change.
    co_await Publish(*orders, "orders.order_cancelled.v1", Cancelled(order, lines));
    auto handled = [&]() -> Task<bool> {
        const auto placed = co_await Inbox(*pool, "order_placed");
        const auto cancelled_ = co_await Inbox(*pool, "order_cancelled");
        co_return placed == 2 && cancelled_ == 2;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(handled));
    co_await keel::testing::Sleep(std::chrono::milliseconds(300));  // room for a wrong answer
    const auto answered = answers->For(order);
    EXPECT_EQ(answered.size(), 1u);
    if (!answered.empty()) {
        EXPECT_EQ(answered[0].envelope.topic, "catalog.stock_rejected.v1");
        EXPECT_EQ(answered[0].payload.at("reason").as_string(), ReservationStore::kCancelledReason);
    }
    EXPECT_EQ(co_await Stock(*pool, kMug), 5);
    EXPECT_EQ(co_await Status(*pool, order), "rejected");
    const auto summary = co_await catalog.reservations->Summarize();
    EXPECT_EQ(summary.tombstones, 0);
    EXPECT_EQ(summary.rejected, 1);
    EXPECT_EQ(summary.reserved_units, 0);
    co_await orders->Stop();
    co_await catalog.bus->Stop();
}

Task<void> HandleInTransaction(std::shared_ptr<bus::Bus> bus, bus::BatchHandler handler,
                               bus::Event event) {
    co_await ReserveInTransaction(std::move(bus), std::move(handler), std::move(event));
}

// The placement and the cancellation of each order in two transactions at the same
// time (two instances, or one instance's two consumers): whichever inserts the
// order's row first, the other sees it, so the stock always ends where it started.
KEEL_CORO_TEST(Reservations, APlacementAndItsCancellationAtOnceNeverLeakStock) {
    auto ex = co_await asio::this_coro::executor;
    PurgeStreams();
    auto pool = co_await CatalogDatabase("catalog_cancel_race");
    co_await AddProduct(*pool, kMug, 100);
    auto cache = Cache(ex);
    auto catalog = MakeCatalog(ex, pool, cache, "catalograce", "catalograce-1", false);
    co_await catalog.bus->Start();
    auto invalidator = std::make_shared<CommittedStockInvalidator>(cache);
    auto place = ReserveStockOnOrderPlaced(catalog.reservations, invalidator);
    auto cancel = ReleaseStockOnOrderCancelled(catalog.reservations, invalidator);

    constexpr int kOrders = 10;
    std::vector<Task<void>> holds;
    for (int i = 0; i < 2 * kOrders; ++i) holds.push_back(Hold(pool));
    co_await testing::RunConcurrently(std::move(holds));
    std::vector<std::string> order_ids;
    std::vector<Task<void>> steps;
    for (int i = 0; i < kOrders; ++i) {
        order_ids.push_back(Uuid::V7().ToString());
        const Lines lines = {{kMug, 3}};
        for (const bool placement : {i % 2 == 0, i % 2 != 0}) {
            bus::Event event;
            event.envelope.event_id = Uuid::V7().ToString();
            event.envelope.topic =
                placement ? "orders.order_placed.v1" : "orders.order_cancelled.v1";
            event.payload =
                placement ? Placed(order_ids.back(), lines) : Cancelled(order_ids.back(), lines);
            event.next = catalog.bus->FromRequest("", "", "test");
            steps.push_back(
                HandleInTransaction(catalog.bus, placement ? place : cancel, std::move(event)));
        }
    }
    std::string error;
    try {
        co_await testing::RunConcurrently(std::move(steps));
    } catch (const std::exception& e) {
        error = e.what();
    }
    EXPECT_EQ(error, "");
    EXPECT_EQ(co_await Stock(*pool, kMug), 100);
    for (const auto& id : order_ids) {
        const auto status = co_await Status(*pool, id);
        EXPECT_TRUE(status == "released" || status == "rejected") << id << ": " << status;
    }
    const auto summary = co_await catalog.reservations->Summarize();
    EXPECT_EQ(summary.reserved_units, 0);
    EXPECT_EQ(summary.tombstones, 0);
    co_await catalog.bus->Stop();
}

Task<void> ForgetIn(std::shared_ptr<pg::Pool> pool) {
    auto body = [](pg::Connection& c) -> Task<void> {
        co_await ReservationStore::ForgetOldTombstones(c);
    };
    co_await pool->Transaction(body);
}

KEEL_CORO_TEST(Reservations, TombstonesGoAfterTheStreamRetention) {
    auto pool = co_await CatalogDatabase("catalog_old_tombstones");
    const auto old_order = Uuid::V7().ToString();
    const auto recent_order = Uuid::V7().ToString();
    const auto rejected_order = Uuid::V7().ToString();
    constexpr std::string_view kInsert =
        "INSERT INTO reservations (order_id, user_id, items, status, created_at) "
        "VALUES ($1::uuid, $2::uuid, '[]', $3, now() - $4::interval)";
    co_await pool->Execute(kInsert, old_order, kUser, std::string("cancelled"),
                           std::string("8 days"));
    co_await pool->Execute(kInsert, recent_order, kUser, std::string("cancelled"),
                           std::string("6 days"));
    co_await pool->Execute(kInsert, rejected_order, kUser, std::string("rejected"),
                           std::string("30 days"));
    co_await ForgetIn(pool);
    EXPECT_EQ(co_await Status(*pool, old_order), "(none)");
    EXPECT_EQ(co_await Status(*pool, recent_order), "cancelled");
    EXPECT_EQ(co_await Status(*pool, rejected_order), "rejected");
}

KEEL_CORO_TEST(Reservations, CacheEntriesGoOnlyOnceTheTransactionCommitted) {
    auto ex = co_await asio::this_coro::executor;
    auto pool = co_await CatalogDatabase("catalog_after_commit");
    auto cache = Cache(ex);
    CommittedStockInvalidator invalidator(cache);
    const std::string entry = "{\"stock\":1}";

    // Rolled back: the entry stays.
    co_await cache->Put(kTee, entry);
    bool rolled_back = false;
    try {
        auto failing = [&](pg::Connection& c) -> Task<void> {
            const std::vector<std::string> ids = {kTee};
            co_await invalidator.AfterCommit(c, ids);
            throw std::runtime_error("handler failed");
        };
        co_await pool->Transaction(failing);
    } catch (const std::runtime_error&) {
        rolled_back = true;
    }
    EXPECT_TRUE(rolled_back);

    // Committed after a while: the entry stays while the transaction is open.
    co_await cache->Put(kMug, entry);
    bool cached_while_open = false;
    auto slow = [&](pg::Connection& c) -> Task<void> {
        const std::vector<std::string> ids = {kMug};
        co_await invalidator.AfterCommit(c, ids);
        co_await keel::testing::Sleep(std::chrono::milliseconds(300));
        cached_while_open = (co_await cache->Get(kMug)).has_value();
    };
    co_await pool->Transaction(slow);
    EXPECT_TRUE(cached_while_open);
    auto evicted = [&]() -> Task<bool> { co_return !(co_await cache->Get(kMug)); };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(evicted, std::chrono::seconds(5)));
    EXPECT_TRUE((co_await cache->Get(kTee)).has_value());
}

}  // namespace
}  // namespace keel::catalog
