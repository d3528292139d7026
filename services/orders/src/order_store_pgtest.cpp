// OrderStore against a real PostgreSQL: idempotent placement under a race for one
// key, key look-ups, reads, and the saga steps' single way out of PENDING.
#include <map>
#include <set>

#include <keel/core/uuid.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "migrations.hpp"
#include "order_store.hpp"
#include "saga.hpp"

namespace keel::orders {
namespace {

const std::string kMug = "00000000-0000-4000-8000-000000000001";
const std::string kTee = "00000000-0000-4000-8000-000000000002";

// A store on a migrated database, with a bus that is never started: its events stay
// in the outbox, where the tests count them.
struct Orders {
    std::shared_ptr<pg::Pool> pool;
    std::shared_ptr<bus::Bus> bus;
    std::shared_ptr<OrderStore> store;
};

Task<Orders> StartOrders(const std::string& db) {
    pg::PoolOptions options;
    options.max_size = 40;
    Orders o;
    o.pool = co_await testing::MigratedPool(db, Migrations(), "orders", options);
    co_await bus::CreateBusTables(*o.pool);
    bus::BusSettings settings;
    settings.service = "orders";
    settings.instance_id = "orders-1";
    o.bus = bus::Bus::Create(co_await asio::this_coro::executor, o.pool, settings);
    o.store = std::make_shared<OrderStore>(o.pool, o.bus);
    SubscribeSaga(*o.bus, o.store);  // declares the topics the store emits
    co_return o;
}

Task<std::int64_t> Count(pg::Pool& pool, std::string_view sql) {
    auto r = co_await pool.Execute(sql);
    co_return r.Int(0, 0);
}

Task<std::int64_t> Outbox(pg::Pool& pool, const std::string& topic) {
    auto r = co_await pool.Execute("SELECT count(*) FROM bus_outbox WHERE topic = $1", topic);
    co_return r.Int(0, 0);
}

Order Priced(const std::string& user_id, std::int64_t mugs) {
    Order order;
    order.user_id = user_id;
    order.items = {OrderLine{kMug, mugs, 1200}};
    order.total = 1200 * mugs;
    order.currency = "USD";
    return order;
}

bus::Origin Origin(bus::Bus& bus) { return bus.FromRequest("req-test", "", "test"); }

struct Attempt {
    std::string hash;
    std::int64_t mugs = 0;
    std::optional<Placement> placement;
    bool wrote = false;  // found the key free and tried to write
};

// As the route runs it: the key first, then (the catalog's pricing, here given) the write.
Task<void> PlaceLikeTheRoute(Orders* orders, std::string user_id, std::string key,
                             Attempt* attempt) {
    auto earlier = co_await orders->store->FindByKey(user_id, key, attempt->hash);
    if (earlier) {
        attempt->placement = std::move(*earlier);
        co_return;
    }
    attempt->wrote = true;
    const auto origin = Origin(*orders->bus);
    auto order = Priced(user_id, attempt->mugs);
    attempt->placement =
        co_await orders->store->Place(std::move(order), key, attempt->hash, origin);
}

Task<void> Hold(std::shared_ptr<pg::Pool> pool) { co_await pool->Execute("SELECT pg_sleep(0.1)"); }

KEEL_CORO_TEST(OrderStore, ConcurrentPlacementsWithOneKeyMakeOneOrder) {
    auto orders = co_await StartOrders("orders_key_race");
    // Open the connections first, so that the placements really overlap.
    std::vector<Task<void>> holds;
    for (int i = 0; i < 30; ++i) holds.push_back(Hold(orders.pool));
    co_await testing::RunConcurrently(std::move(holds));

    const auto user = Uuid::V7().ToString();
    const auto one_mug = MakeOrderRequest({OrderLine{kMug, 1}}).hash;
    const auto two_mugs = MakeOrderRequest({OrderLine{kMug, 2}}).hash;
    std::vector<Attempt> attempts(24);
    for (std::size_t i = 0; i < attempts.size(); ++i) {
        attempts[i].mugs = i % 4 == 3 ? 2 : 1;  // every fourth with another body
        attempts[i].hash = attempts[i].mugs == 1 ? one_mug : two_mugs;
    }
    std::vector<Task<void>> tasks;
    for (auto& attempt : attempts)
        tasks.push_back(PlaceLikeTheRoute(&orders, user, "k1", &attempt));
    co_await testing::RunConcurrently(std::move(tasks));

    std::map<PlaceOutcome, int> outcomes;
    std::set<std::string> order_ids;
    std::int64_t winner_mugs = 0;
    int wrote = 0;
    for (const auto& a : attempts) {
        wrote += a.wrote ? 1 : 0;
        EXPECT_TRUE(a.placement.has_value());
        if (!a.placement) continue;
        ++outcomes[a.placement->outcome];
        if (a.placement->order) order_ids.insert(a.placement->order->id);
        if (a.placement->outcome == PlaceOutcome::kPlaced) winner_mugs = a.mugs;
    }
    // Several found the key free, so the losers took the insert's conflict path.
    EXPECT_GT(wrote, 1);
    const int same_body = winner_mugs == 1 ? 18 : 6;
    EXPECT_EQ(outcomes[PlaceOutcome::kPlaced], 1);
    EXPECT_EQ(outcomes[PlaceOutcome::kReplayed], same_body - 1);
    EXPECT_EQ(outcomes[PlaceOutcome::kKeyReused], 24 - same_body);
    EXPECT_EQ(outcomes[PlaceOutcome::kKeyInProgress], 0);
    EXPECT_EQ(order_ids.size(), 1u);  // every order returned is the one placed
    EXPECT_EQ(co_await Count(*orders.pool, "SELECT count(*) FROM orders"), 1);
    EXPECT_EQ(co_await Count(*orders.pool, "SELECT count(*) FROM idempotency_keys"), 1);
    EXPECT_EQ(co_await Outbox(*orders.pool, "orders.order_placed.v1"), 1);
}

KEEL_CORO_TEST(OrderStore, KeysArePerUserAndRememberTheirBody) {
    auto orders = co_await StartOrders("orders_keys");
    const auto ann = Uuid::V7().ToString();
    const auto bob = Uuid::V7().ToString();
    const auto hash = MakeOrderRequest({OrderLine{kMug, 1}}).hash;
    EXPECT_FALSE((co_await orders.store->FindByKey(ann, "k", hash)).has_value());

    const auto origin = Origin(*orders.bus);
    const auto placed = co_await orders.store->Place(Priced(ann, 1), "k", hash, origin);
    EXPECT_EQ(placed.outcome, PlaceOutcome::kPlaced);
    if (!placed.order) co_return;
    const auto& order = *placed.order;
    EXPECT_TRUE(Uuid::Parse(order.id).has_value());
    EXPECT_EQ(order.status, "PENDING");
    EXPECT_EQ(order.total, 1200);
    EXPECT_EQ(order.correlation_id, "req-test");
    EXPECT_EQ(order.created_at.size(), 24u);

    const auto replayed = co_await orders.store->FindByKey(ann, "k", hash);
    EXPECT_TRUE(replayed && replayed->outcome == PlaceOutcome::kReplayed && replayed->order &&
                replayed->order->id == order.id);
    const auto reused = co_await orders.store->FindByKey(ann, "k", "another body");
    EXPECT_TRUE(reused && reused->outcome == PlaceOutcome::kKeyReused && !reused->order);
    // Placing under a taken key writes nothing and says why.
    const auto again = co_await orders.store->Place(Priced(ann, 2), "k", "another body", origin);
    EXPECT_EQ(again.outcome, PlaceOutcome::kKeyReused);
    EXPECT_FALSE((co_await orders.store->FindByKey(bob, "k", hash)).has_value());
    EXPECT_EQ(co_await Count(*orders.pool, "SELECT count(*) FROM orders"), 1);
    EXPECT_EQ(co_await Outbox(*orders.pool, "orders.order_placed.v1"), 1);
}

KEEL_CORO_TEST(OrderStore, GetsAndListsNewestFirst) {
    auto orders = co_await StartOrders("orders_reads");
    const auto ann = Uuid::V7().ToString();
    const auto origin = Origin(*orders.bus);
    std::vector<std::string> ids;
    for (int i = 1; i <= 3; ++i) {
        const auto hash = MakeOrderRequest({OrderLine{kMug, i}}).hash;
        auto p =
            co_await orders.store->Place(Priced(ann, i), "k" + std::to_string(i), hash, origin);
        if (p.order) ids.push_back(p.order->id);
    }
    EXPECT_EQ(ids.size(), 3u);
    if (ids.size() != 3) co_return;
    const auto got = co_await orders.store->Get(ids[1]);
    EXPECT_TRUE(got && got->total == 2400 && got->items.size() == 1 && got->user_id == ann);
    EXPECT_FALSE((co_await orders.store->Get(Uuid::V7().ToString())).has_value());
    const auto listed = co_await orders.store->ListByUser(ann, 2);
    EXPECT_EQ(listed.size(), 2u);
    if (listed.size() == 2) {
        EXPECT_EQ(listed[0].id, ids[2]);
        EXPECT_EQ(listed[1].id, ids[1]);
    }
    EXPECT_TRUE((co_await orders.store->ListByUser(Uuid::V7().ToString(), 10)).empty());
}

// A saga step in its own transaction, as the consumer runs it.
Task<StepOutcome> Step(Orders& orders, bool confirm, std::string order_id) {
    StepOutcome outcome = StepOutcome::kLeftAsItWas;
    const auto origin = Origin(*orders.bus);
    auto body = [&](pg::Connection& c) -> Task<void> {
        if (confirm)
            outcome = co_await orders.store->Confirm(c, order_id, Uuid::V7().ToString(), origin);
        else
            outcome = co_await orders.store->Cancel(c, order_id, "stock: gone", origin);
    };
    co_await orders.bus->Transaction(body);
    co_return outcome;
}

KEEL_CORO_TEST(OrderStore, OnlyAPendingOrderLeavesPending) {
    auto orders = co_await StartOrders("orders_steps");
    const auto ann = Uuid::V7().ToString();
    const auto origin = Origin(*orders.bus);
    const auto hash = MakeOrderRequest({OrderLine{kMug, 1}}).hash;
    auto first = co_await orders.store->Place(Priced(ann, 1), "a", hash, origin);
    auto second = co_await orders.store->Place(Priced(ann, 1), "b", hash, origin);
    if (!first.order || !second.order) co_return;
    const auto confirmed_id = first.order->id;
    const auto cancelled_id = second.order->id;

    EXPECT_EQ(co_await Step(orders, true, confirmed_id), StepOutcome::kMoved);
    EXPECT_EQ(co_await Step(orders, false, cancelled_id), StepOutcome::kMoved);
    const auto confirmed = co_await orders.store->Get(confirmed_id);
    const auto cancelled = co_await orders.store->Get(cancelled_id);
    EXPECT_TRUE(confirmed && confirmed->status == "CONFIRMED" && confirmed->payment_id &&
                !confirmed->reason);
    EXPECT_TRUE(cancelled && cancelled->status == "CANCELLED" && !cancelled->payment_id &&
                cancelled->reason == "stock: gone");

    // Final orders and unknown ones stay as they are, and nothing is emitted.
    EXPECT_EQ(co_await Step(orders, false, confirmed_id), StepOutcome::kLeftAsItWas);
    EXPECT_EQ(co_await Step(orders, true, confirmed_id), StepOutcome::kLeftAsItWas);
    EXPECT_EQ(co_await Step(orders, true, cancelled_id), StepOutcome::kLeftAsItWas);
    EXPECT_EQ(co_await Step(orders, true, Uuid::V7().ToString()), StepOutcome::kLeftAsItWas);
    const auto still = co_await orders.store->Get(confirmed_id);
    EXPECT_TRUE(still && still->status == "CONFIRMED" &&
                still->payment_id == confirmed->payment_id &&
                still->updated_at == confirmed->updated_at);
    EXPECT_EQ(co_await Outbox(*orders.pool, "orders.order_confirmed.v1"), 1);
    EXPECT_EQ(co_await Outbox(*orders.pool, "orders.order_cancelled.v1"), 1);
    EXPECT_EQ(co_await Count(*orders.pool, "SELECT count(*) FROM orders"), 2);
}

}  // namespace
}  // namespace keel::orders
