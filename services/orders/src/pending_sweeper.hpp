#pragma once
#include <chrono>
#include <functional>
#include <memory>

#include "order_store.hpp"

namespace keel::orders {

/// Orders cancelled per transaction by one sweep step.
inline constexpr int kSweepBatch = 100;

/// One sweep: cancels every order PENDING for longer than `deadline`, kSweepBatch per
/// transaction until none is left (OrderStore::CancelExpired). Every instance runs it
/// (App::Every); they skip each other's rows, so an order is cancelled once. Returns
/// how many orders this call cancelled. Failures of the database or bus throw.
Task<std::size_t> SweepPendingOrders(std::shared_ptr<OrderStore> store,
                                     std::chrono::seconds deadline);

/// SweepPendingOrders as a periodic task.
std::function<Task<void>()> PendingSweeper(std::shared_ptr<OrderStore> store,
                                           std::chrono::seconds deadline);

}  // namespace keel::orders
