#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

namespace keel::recommendations {

/// The distinct product ids of an order event's `items`, lower-case and sorted. Ids
/// that are not UUIDs are left out (and logged): they cannot be recommended.
std::vector<std::string> DistinctProductIds(const boost::json::value& order_payload);

/// How many times each ordered pair (product, related product) of different products
/// was bought together.
using PairCounts = std::map<std::pair<std::string, std::string>, std::int64_t>;

/// The pair counts of a batch of orders.order_confirmed.v1 events.
PairCounts CountPairs(std::span<const bus::Event> events);

/// Adds `counts` to the stored ones in `connection`'s open transaction, as one
/// statement that locks the rows in key order.
Task<void> AddPairCounts(pg::Connection& connection, PairCounts counts);

/// The handler of orders.order_confirmed.v1: counts a batch's product pairs. The
/// bus's inbox makes a redelivered event a no-op.
bus::BatchHandler CountCoPurchases();

struct RelatedProduct {
    std::string product_id;
    std::int64_t count = 0;
};

/// Reads co-purchase counts. Thread-safe (the pool is).
class CoPurchaseStore final {
public:
    explicit CoPurchaseStore(std::shared_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

    /// Products bought together with `product_id` (a UUID), most often first, then
    /// by id; at most `limit`. Empty for a product never bought with another.
    Task<std::vector<RelatedProduct>> Related(const std::string& product_id, int limit);

private:
    std::shared_ptr<pg::Pool> pool_;
};

}  // namespace keel::recommendations
