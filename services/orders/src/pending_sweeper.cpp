#include "pending_sweeper.hpp"

namespace keel::orders {

Task<std::size_t> SweepPendingOrders(std::shared_ptr<OrderStore> store,
                                     std::chrono::seconds deadline) {
    std::size_t total = 0;
    for (;;) {
        const auto cancelled = co_await store->CancelExpired(deadline, kSweepBatch);
        total += cancelled.size();
        // A short batch: nothing more is due (or another sweeper holds the rest).
        if (cancelled.size() < static_cast<std::size_t>(kSweepBatch)) co_return total;
    }
}

namespace {

Task<void> Sweep(std::shared_ptr<OrderStore> store, std::chrono::seconds deadline) {
    co_await SweepPendingOrders(std::move(store), deadline);
}

}  // namespace

std::function<Task<void>()> PendingSweeper(std::shared_ptr<OrderStore> store,
                                           std::chrono::seconds deadline) {
    // Not a coroutine itself: its captures would not outlive the first suspension.
    return [store, deadline] { return Sweep(store, deadline); };
}

}  // namespace keel::orders
