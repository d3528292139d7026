#pragma once
#include <memory>
#include <string>
#include <vector>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

#include "product_cache.hpp"
#include "reservation_store.hpp"

namespace keel::catalog {

/// Deletes the cache entries of products whose stock a consumer transaction changed,
/// once that transaction has committed: deleting them inside it would let a reader
/// cache the old stock again before the commit. The connection runs the deletion
/// right after its COMMIT answers (pg::Connection::OnCommit; also when the answer was
/// lost, since a needless deletion is harmless); after a rollback nothing is deleted
/// (the retry schedules its own). No statement and no polling. Thread-safe.
class CommittedStockInvalidator final {
public:
    explicit CommittedStockInvalidator(std::shared_ptr<ProductCache> cache)
        : cache_(std::move(cache)) {}

    /// Inside the transaction open on `c`: the deletion runs in the background once it
    /// has committed (failures there are logged, never thrown).
    Task<void> AfterCommit(pg::Connection& c, std::vector<std::string> product_ids);

private:
    std::shared_ptr<ProductCache> cache_;
};

/// The consumer of orders.order_placed.v1: reserves each order's stock or rejects
/// it (see ReservationStore::Reserve), after locking every product of the batch in
/// id order. A malformed event (order or user id not a UUID) throws: dead letter.
bus::BatchHandler ReserveStockOnOrderPlaced(std::shared_ptr<ReservationStore> reservations,
                                            std::shared_ptr<CommittedStockInvalidator> invalidator);

/// The consumer of orders.order_cancelled.v1: releases the order's reservation if it
/// holds stock, leaves a tombstone if the order has no reservation yet (see
/// ReservationStore::Release), and deletes tombstones older than 7 days.
bus::BatchHandler ReleaseStockOnOrderCancelled(
    std::shared_ptr<ReservationStore> reservations,
    std::shared_ptr<CommittedStockInvalidator> invalidator);

}  // namespace keel::catalog
