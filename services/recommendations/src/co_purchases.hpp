#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

namespace keel::recommendations {

/// The distinct product ids of an order event's `items`, lower-case and sorted. Ids
/// that are not UUIDs are left out (and logged): they cannot be recommended.
std::vector<std::string> DistinctProductIds(const boost::json::value& order_payload);

/// Adds one to the count of every ordered pair of different products among
/// `product_ids` (distinct UUIDs), in `connection`'s open transaction, as one statement.
Task<void> CountPairs(pg::Connection& connection, const std::vector<std::string>& product_ids);

/// The handler of orders.order_confirmed.v1: counts the order's product pairs. The
/// bus's inbox makes a redelivered event a no-op.
bus::EventHandler CountCoPurchases();

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
