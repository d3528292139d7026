#include "stock_events.hpp"

#include <algorithm>

#include <keel/core/log.hpp>
#include <keel/core/runtime.hpp>

namespace keel::catalog {
namespace {

// After the commit: the entries go (failures are logged by the cache, never thrown).
Task<void> InvalidateNow(std::shared_ptr<ProductCache> cache,
                         std::vector<std::string> product_ids) {
    for (const auto& id : product_ids) co_await cache->Invalidate(id);
}

std::string StringField(const bus::Event& event, std::string_view name) {
    const auto& text = event.payload.at(name).as_string();
    return std::string(text.data(), text.size());
}

Task<void> HandlePlaced(std::shared_ptr<ReservationStore> reservations,
                        std::shared_ptr<CommittedStockInvalidator> invalidator, pg::Connection& c,
                        std::span<const bus::Event> events) {
    std::vector<PlacedOrder> orders;
    for (const auto& event : events) orders.push_back(ReadPlacedOrder(event.payload));
    // Every lock of this transaction in one ordered step: batches of two instances
    // holding overlapping products then wait for each other instead of deadlocking. The
    // same round trip reads the stock and the orders' reservations, so that each order
    // then costs one statement while the locks are held.
    auto locked = co_await ReservationStore::LockBatch(c, orders);
    std::vector<std::string> changed;
    for (std::size_t i = 0; i < orders.size(); ++i) {
        const auto decision = co_await reservations->Reserve(c, orders[i], events[i].next, locked);
        if (decision.outcome == ReservationStore::Outcome::kReserved) {
            for (const auto& line : orders[i].lines) changed.push_back(line.product_id);
        } else if (decision.outcome == ReservationStore::Outcome::kRejected) {
            log::Info("order stock rejected",
                      {{"order_id", orders[i].order_id}, {"reason", decision.reason}});
        }
    }
    if (!changed.empty()) co_await invalidator->AfterCommit(c, std::move(changed));
}

Task<void> HandleCancelled(std::shared_ptr<ReservationStore> reservations,
                           std::shared_ptr<CommittedStockInvalidator> invalidator,
                           pg::Connection& c, std::span<const bus::Event> events) {
    std::vector<std::string> order_ids;
    std::vector<std::string> user_ids;
    for (const auto& event : events) {
        order_ids.push_back(StringField(event, "order_id"));
        user_ids.push_back(StringField(event, "user_id"));
    }
    const auto products = co_await ReservationStore::ReservedProducts(c, order_ids);
    co_await ReservationStore::LockProducts(c, products);
    std::vector<std::string> changed;
    for (std::size_t i = 0; i < order_ids.size(); ++i) {
        const auto released = co_await reservations->Release(c, order_ids[i], user_ids[i]);
        changed.insert(changed.end(), released.begin(), released.end());
    }
    co_await ReservationStore::ForgetOldTombstones(c);
    if (!changed.empty()) co_await invalidator->AfterCommit(c, std::move(changed));
}

}  // namespace

Task<void> CommittedStockInvalidator::AfterCommit(pg::Connection& c,
                                                  std::vector<std::string> product_ids) {
    std::sort(product_ids.begin(), product_ids.end());
    product_ids.erase(std::unique(product_ids.begin(), product_ids.end()), product_ids.end());
    auto executor = co_await asio::this_coro::executor;
    c.OnCommit([executor, cache = cache_, ids = std::move(product_ids)]() mutable {
        Spawn(executor, InvalidateNow(std::move(cache), std::move(ids)),
              "product cache invalidation");
    });
}

// The handlers are plain lambdas that call coroutine functions taking their state by
// value: a capturing lambda that is itself a coroutine would leave its frame pointing
// into the lambda object.
bus::BatchHandler ReserveStockOnOrderPlaced(
    std::shared_ptr<ReservationStore> reservations,
    std::shared_ptr<CommittedStockInvalidator> invalidator) {
    return [reservations = std::move(reservations), invalidator = std::move(invalidator)](
               pg::Connection& c, std::span<const bus::Event> events) {
        return HandlePlaced(reservations, invalidator, c, events);
    };
}

bus::BatchHandler ReleaseStockOnOrderCancelled(
    std::shared_ptr<ReservationStore> reservations,
    std::shared_ptr<CommittedStockInvalidator> invalidator) {
    return [reservations = std::move(reservations), invalidator = std::move(invalidator)](
               pg::Connection& c, std::span<const bus::Event> events) {
        return HandleCancelled(reservations, invalidator, c, events);
    };
}

}  // namespace keel::catalog
