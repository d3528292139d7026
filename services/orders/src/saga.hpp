#pragma once
#include <memory>

#include <keel/bus/bus.hpp>

#include "order_store.hpp"

namespace keel::orders {

/// Declares the events orders publishes (orders.order_placed.v1, order_confirmed,
/// order_cancelled) and subscribes the saga steps orders takes: confirm on
/// payments.payment_captured.v1, cancel on catalog.stock_rejected.v1 ("stock: "
/// and catalog's reason) or payments.payment_declined.v1 ("payment: " and the
/// reason). An event for an unknown or final order changes nothing; one whose order
/// id is not a UUID throws (and ends in the dead letters). Call before Bus::Start().
void SubscribeSaga(bus::Bus& bus, std::shared_ptr<OrderStore> store);

}  // namespace keel::orders
