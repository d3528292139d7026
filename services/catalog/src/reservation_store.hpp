#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

#include "reservation.hpp"

namespace keel::catalog {

/// Stock reservations of the checkout saga, in catalog's database. Reserve and
/// Release run in the transaction of the bus consumer that calls them (so the
/// effect, the inbox row and the emitted event commit together) and lock products
/// in product id order, as every writer of stock in a transaction must, so that
/// concurrent reservations cannot deadlock. Thread-safe.
class ReservationStore final {
public:
    ReservationStore(std::shared_ptr<pg::Pool> pool, std::shared_ptr<bus::Bus> bus)
        : pool_(std::move(pool)), bus_(std::move(bus)) {}

    enum class Outcome { kReserved, kRejected, kAlreadyDecided };
    struct Decision {
        Outcome outcome = Outcome::kAlreadyDecided;
        std::string reason;  ///< why it was rejected
    };
    /// Takes the order's stock and emits catalog.stock_reserved.v1, or takes nothing
    /// and emits catalog.stock_rejected.v1 with the reason. An order with a tombstone
    /// (cancelled before it was placed here, see Release) is rejected with
    /// kCancelledReason and the tombstone becomes that rejection. An order that
    /// already has a reservation in any other status is left alone, nothing emitted.
    Task<Decision> Reserve(pg::Connection& c, const PlacedOrder& order, const bus::Origin& origin);

    /// What a batch's transaction knows once LockBatch has locked its products: their
    /// stock (kept current by Reserve as it takes stock) and the reservation status of
    /// the batch's orders that have one.
    struct LockedBatch {
        std::map<std::string, std::int64_t> stock;  // product id -> stock
        std::map<std::string, std::string> status;  // order id (lower case) -> status
    };
    /// Locks every product of `orders` in id order and reads their stock and the orders'
    /// reservations (after the lock): one round trip for the whole batch.
    static Task<LockedBatch> LockBatch(pg::Connection& c, const std::vector<PlacedOrder>& orders);
    /// Reserve for an order of a batch locked by LockBatch: one statement per order.
    Task<Decision> Reserve(pg::Connection& c, const PlacedOrder& order, const bus::Origin& origin,
                           LockedBatch& batch);

    /// Puts back the stock of the order's reservation if it is reserved, and marks it
    /// released; returns the products whose stock changed (none otherwise). An order
    /// with no reservation at all gets a tombstone (a reservation in status cancelled,
    /// holding nothing), so that its placement, arriving later, reserves nothing.
    Task<std::vector<std::string>> Release(pg::Connection& c, const std::string& order_id,
                                           const std::string& user_id);

    /// Deletes tombstones older than the streams' retention (7 days; their placement
    /// will not come any more), at most 100 a call. Cheap when there are none.
    static Task<void> ForgetOldTombstones(pg::Connection& c);

    /// Locks the rows of those of `product_ids` that exist, in id order. A consumer
    /// handling a batch of events calls it first with every product of the batch,
    /// so that its transaction takes its product locks in one ordered step.
    static Task<void> LockProducts(pg::Connection& c, const std::vector<std::string>& product_ids);
    /// The products of the reserved reservations of `order_ids` (to lock before Release).
    static Task<std::vector<std::string>> ReservedProducts(
        pg::Connection& c, const std::vector<std::string>& order_ids);

    /// The reason of the rejection of an order cancelled before it was placed here.
    static constexpr std::string_view kCancelledReason =
        "order cancelled before its stock was reserved";

    struct Summary {
        std::int64_t reserved_units = 0;  ///< units held by reservations in status reserved
        std::int64_t reserved = 0;
        std::int64_t rejected = 0;
        std::int64_t released = 0;
        std::int64_t tombstones = 0;  ///< cancelled orders whose placement has not arrived
    };
    /// Counts for the checks that compare stock moved with orders confirmed.
    Task<Summary> Summarize();

private:
    /// Turns the order's tombstone into a rejection and announces it; kAlreadyDecided
    /// when the order has no tombstone.
    Task<Decision> RefuseCancelled(pg::Connection& c, const PlacedOrder& order,
                                   const bus::Origin& origin);
    /// Emits catalog.stock_reserved.v1 or catalog.stock_rejected.v1 for `decision`.
    Task<void> Announce(pg::Connection& c, const PlacedOrder& order, const Decision& decision,
                        const bus::Origin& origin);

    std::shared_ptr<pg::Pool> pool_;
    std::shared_ptr<bus::Bus> bus_;
};

}  // namespace keel::catalog
