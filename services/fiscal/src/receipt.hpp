#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

namespace keel::fiscal {

struct Receipt {
    std::string id;
    std::int64_t number = 0;
    std::string order_id;
    std::string payment_id;
    std::string user_id;
    std::int64_t amount = 0;
    std::string currency;
    std::string issued_at;  ///< RFC 3339, UTC, milliseconds
    std::int64_t issued_at_ms = 0;
};

/// The receipt's JSON in the API (issued_at as RFC 3339).
boost::json::object ToJsonObject(const Receipt& receipt);

/// The payload of payments.payment_captured.v1.
struct PaymentCaptured {
    std::string payment_id;
    std::string order_id;
    std::string user_id;
    std::int64_t amount = 0;
    std::string currency;
};

/// Reads a payment_captured payload (already schema-checked by the bus). Throws
/// std::invalid_argument when an id is not a UUID: a producer bug, left to the bus's
/// retries and dead letters.
PaymentCaptured ReadPaymentCaptured(const boost::json::value& payload);

/// Issues the payment's receipt in `connection`'s open transaction; nullopt when the
/// payment or its order already has one (nothing written, no number used).
Task<std::optional<Receipt>> IssueReceipt(pg::Connection& connection,
                                          const PaymentCaptured& payment);

/// The payments.payment_captured.v1 consumer: IssueReceipt, and only when it issued,
/// emits fiscal.receipt_issued.v1 in the same transaction. `bus` owns the handler.
bus::EventHandler ReceiptHandler(bus::Bus& bus);

}  // namespace keel::fiscal
