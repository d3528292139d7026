#pragma once
#include <chrono>
#include <string_view>

#include "order.hpp"

namespace keel::orders {

/// The saga's business metrics, counted once the transaction that made them true has
/// committed (a rolled-back step counts nothing):
///   keel_orders_placed_total
///   keel_orders_finished_total{status="confirmed"|"cancelled", reason}
///   keel_order_time_to_final_seconds{status}   from placement to CONFIRMED or CANCELLED
/// `reason` is who refused the order ("stock", "payment", "timeout", else "other"): the text
/// before the first ':' of the stored reason, so the label has a fixed set of values.
/// Creates every series at 0, so that rate() and increase() see an instance's first orders
/// after a start (a counter that appears at 1 has no earlier sample to grow from).
void RegisterOrderMetrics();
void CountPlaced();
void CountFinished(const Order& order, std::chrono::milliseconds time_to_final);

/// The label value for a stored cancel reason ("stock: insufficient stock" -> "stock").
std::string_view ReasonLabel(std::string_view reason);

}  // namespace keel::orders
