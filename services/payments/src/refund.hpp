#pragma once
#include <cstdint>
#include <string>

#include <boost/json/value.hpp>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

namespace keel::payments {

/// What payments needs of orders.order_cancelled.v1.
struct OrderCancelled {
    std::string order_id;
    std::string user_id;
    std::string reason;
};

/// Reads an order_cancelled payload (already schema-checked by the bus). Throws
/// std::invalid_argument when order_id or user_id is not a UUID.
OrderCancelled ReadOrderCancelled(const boost::json::value& payload);

struct RefundDecision {
    enum class Kind {
        kRefunded,         ///< the order's capture was given back now
        kNothingCaptured,  ///< no capture (yet): the cancellation keeps later ones away
        kAlreadyRefunded,  ///< an earlier delivery refunded it
    };
    Kind kind = Kind::kNothingCaptured;
    std::string refund_id;   ///< the refund's ledger transaction (kRefunded)
    std::string payment_id;  ///< the capture it gives back (kRefunded)
    std::string user_id;
    std::int64_t amount = 0;
    std::string currency;
};

/// In `connection`'s open transaction, under the order's lock that DecideCapture takes:
/// records the cancellation (so that a capture trigger arriving later captures nothing)
/// and, when the order was captured and not yet refunded, refunds it: a ledger
/// transaction of kind refund (merchant:revenue -> wallet:<user>, the captured amount)
/// and the wallet credited. At most one refund per order (also a unique index).
Task<RefundDecision> RecordCancellation(pg::Connection& connection, const OrderCancelled& order);

/// The orders.order_cancelled.v1 consumer: RecordCancellation, then emits
/// payments.payment_refunded.v1 in the same transaction when it refunded. `bus` owns
/// the handler, so it outlives it.
bus::EventHandler RefundHandler(bus::Bus& bus);

}  // namespace keel::payments
