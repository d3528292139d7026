#include "stock_events.hpp"

#include <algorithm>
#include <chrono>

#include <keel/core/log.hpp>
#include <keel/core/runtime.hpp>

namespace keel::catalog {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kFirstPoll{5};
constexpr milliseconds kMaxPoll{500};
constexpr std::chrono::minutes kGiveUpAfter{2};

constexpr std::string_view kTransactionStatusSql = "SELECT pg_xact_status($1::xid8)";

// "committed", "aborted", "in progress", or "" when it cannot be told now.
Task<std::string> TransactionStatus(pg::Pool& pool, const std::string& xid) {
    std::string status;
    try {
        auto rows = co_await pool.Execute(kTransactionStatusSql, xid);
        // NULL: too old to be known, so long finished; treat as committed.
        status = rows.IsNull(0, 0) ? "committed" : std::string(rows.Text(0, 0));
    } catch (const std::exception& e) {
        log::Debug("transaction status unavailable", {{"error", e.what()}});
    }
    co_return status;
}

Task<void> InvalidateWhenCommitted(std::shared_ptr<pg::Pool> pool,
                                   std::shared_ptr<ProductCache> cache, std::string xid,
                                   std::vector<std::string> product_ids) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto give_up = std::chrono::steady_clock::now() + kGiveUpAfter;
    auto delay = kFirstPoll;
    for (;;) {
        timer.expires_after(delay);
        co_await timer.async_wait(asio::use_awaitable);
        const auto status = co_await TransactionStatus(*pool, xid);
        if (status == "aborted") co_return;
        if (status == "committed") break;
        if (std::chrono::steady_clock::now() > give_up) {
            log::Warn("stock transaction outcome unknown; invalidating the product cache anyway",
                      {{"xid", xid}});
            break;
        }
        delay = std::min(delay * 2, kMaxPoll);
    }
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
    std::vector<std::string> products;
    for (const auto& event : events) {
        orders.push_back(ReadPlacedOrder(event.payload));
        for (const auto& line : orders.back().lines) products.push_back(line.product_id);
    }
    // Every lock of this transaction in one ordered step: batches of two instances
    // holding overlapping products then wait for each other instead of deadlocking.
    co_await ReservationStore::LockProducts(c, products);
    std::vector<std::string> changed;
    for (std::size_t i = 0; i < orders.size(); ++i) {
        const auto decision = co_await reservations->Reserve(c, orders[i], events[i].next);
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

constexpr std::string_view kCurrentTransactionSql = "SELECT pg_current_xact_id()::text";

Task<void> CommittedStockInvalidator::AfterCommit(pg::Connection& c,
                                                  std::vector<std::string> product_ids) {
    std::sort(product_ids.begin(), product_ids.end());
    product_ids.erase(std::unique(product_ids.begin(), product_ids.end()), product_ids.end());
    auto rows = co_await c.Execute(kCurrentTransactionSql);
    std::string xid(rows.Text(0, 0));
    auto executor = co_await asio::this_coro::executor;
    Spawn(executor, InvalidateWhenCommitted(pool_, cache_, std::move(xid), std::move(product_ids)),
          "product cache invalidation");
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
