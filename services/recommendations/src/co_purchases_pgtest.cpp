// Co-purchase counting against a real PostgreSQL.
#include <cctype>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <keel/core/uuid.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "co_purchases.hpp"
#include "migrations.hpp"

namespace keel::recommendations {
namespace {

const std::string kA = "00000000-0000-4000-8000-00000000000a";
const std::string kB = "00000000-0000-4000-8000-00000000000b";
const std::string kC = "00000000-0000-4000-8000-00000000000c";
const std::string kD = "00000000-0000-4000-8000-00000000000d";

bus::Event Confirmed(const std::vector<std::string>& product_ids) {
    boost::json::array items;
    for (const auto& id : product_ids) {
        boost::json::object line;
        line["product_id"] = id;
        line["quantity"] = 1;
        line["unit_price"] = 1200;
        items.push_back(std::move(line));
    }
    bus::Event event;
    event.envelope.topic = "orders.order_confirmed.v1";
    boost::json::object payload;
    payload["order_id"] = Uuid::V7().ToString();
    payload["items"] = std::move(items);
    event.payload = std::move(payload);
    return event;
}

// Runs the consumer's handler for a batch in a transaction, as the bus would.
Task<void> HandleBatch(pg::Pool& pool, std::vector<bus::Event> events) {
    auto handler = CountCoPurchases();
    auto body = [&](pg::Connection& c) -> Task<void> { co_await handler(c, events); };
    co_await pool.Transaction(body);
}

Task<void> Handle(pg::Pool& pool, bus::Event event) {
    std::vector<bus::Event> one;
    one.push_back(std::move(event));
    co_await HandleBatch(pool, std::move(one));
}

using PairList = std::vector<std::pair<std::string, std::int64_t>>;

PairList Pairs(const std::vector<RelatedProduct>& items) {
    PairList out;
    for (const auto& r : items) out.emplace_back(r.product_id, r.count);
    return out;
}

KEEL_CORO_TEST(CoPurchases, CountsEveryPairInBothDirections) {
    auto pool = co_await testing::MigratedPool("rec_pairs", Migrations(), "recommendations");
    CoPurchaseStore store(pool);
    const std::vector<std::string> abc = {kA, kB, kC};
    co_await Handle(*pool, Confirmed(abc));
    auto rows = co_await pool->Execute("SELECT count(*), sum(count) FROM co_purchases");
    EXPECT_EQ(rows.Int(0, 0), 6);  // 3 pairs, 2 directions
    EXPECT_EQ(rows.Int(0, 1), 6);

    // Two lines of one product count once; upper-case ids are the same product.
    std::string upper_b = kB;
    for (auto& ch : upper_b) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    const std::vector<std::string> abb = {kA, kB, upper_b, kB};
    co_await Handle(*pool, Confirmed(abb));
    // One product, or none: nothing to count.
    const std::vector<std::string> only_a = {kA, kA};
    co_await Handle(*pool, Confirmed(only_a));
    const std::vector<std::string> none;
    co_await Handle(*pool, Confirmed(none));

    // (Expected values named first: GCC 12 miscompiles braced lists beside co_await.)
    const PairList related_a = {{kB, 2}, {kC, 1}};
    const PairList related_b = {{kA, 2}, {kC, 1}};
    const PairList related_c = {{kA, 1}, {kB, 1}};  // equal counts: by product id
    const PairList top_a = {{kB, 2}};
    EXPECT_EQ(Pairs(co_await store.Related(kA, 50)), related_a);
    EXPECT_EQ(Pairs(co_await store.Related(kB, 50)), related_b);
    EXPECT_EQ(Pairs(co_await store.Related(kC, 50)), related_c);
    EXPECT_EQ(Pairs(co_await store.Related(kA, 1)), top_a);
    EXPECT_TRUE((co_await store.Related(kD, 50)).empty());
}

KEEL_CORO_TEST(CoPurchases, ConcurrentOrdersLoseNoCount) {
    auto pool = co_await testing::MigratedPool("rec_concurrent", Migrations(), "recommendations");
    CoPurchaseStore store(pool);
    // Overlapping orders in opposite line order, committed concurrently.
    constexpr int kOrders = 40;  // batches
    const std::vector<std::string> abc = {kA, kB, kC};
    const std::vector<std::string> dcba = {kD, kC, kB, kA};
    std::vector<Task<void>> batches;
    for (int i = 0; i < kOrders; ++i) {
        // Batches of two orders, in either order: rows shared across batches must be
        // locked in one order whatever the order of the events.
        std::vector<bus::Event> batch;
        batch.push_back(Confirmed((i % 2) ? dcba : abc));
        batch.push_back(Confirmed((i % 2) ? abc : dcba));
        batches.push_back(HandleBatch(*pool, std::move(batch)));
    }
    co_await testing::RunConcurrently(std::move(batches));
    const PairList related_a = {{kB, 2 * kOrders}, {kC, 2 * kOrders}, {kD, kOrders}};
    const PairList related_d = {{kA, kOrders}, {kB, kOrders}, {kC, kOrders}};
    EXPECT_EQ(Pairs(co_await store.Related(kA, 50)), related_a);
    EXPECT_EQ(Pairs(co_await store.Related(kD, 50)), related_d);
}

}  // namespace
}  // namespace keel::recommendations
