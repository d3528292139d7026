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
    std::string kind = "sale";  ///< sale, or refund (the payment went back to the buyer)
    std::string refund_id;      ///< payments' refund, for a refund receipt
    /// For a refund receipt, the sale receipt of the same order; empty while fiscal has
    /// not issued it (the two topics are consumed independently).
    std::string sale_receipt_id;
};

/// The receipt's JSON in the API (issued_at as RFC 3339; a refund receipt also has
/// refund_id and sale_receipt_id, null when the sale receipt is not issued yet).
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

/// The payload of payments.payment_refunded.v1.
struct PaymentRefunded {
    std::string refund_id;
    std::string payment_id;
    std::string order_id;
    std::string user_id;
    std::int64_t amount = 0;
    std::string currency;
};

/// Reads a payment_refunded payload; throws std::invalid_argument when an id is not
/// a UUID (as ReadPaymentCaptured).
PaymentRefunded ReadPaymentRefunded(const boost::json::value& payload);

/// Issues the refund receipt of the order in `connection`'s open transaction; nullopt
/// when the order already has one. It does not need the sale receipt: a refund that
/// arrives first is receipted at once and the sale follows when its capture arrives
/// (the link is by order, resolved when receipts are read).
Task<std::optional<Receipt>> IssueRefundReceipt(pg::Connection& connection,
                                                const PaymentRefunded& refund);

/// The payments.payment_refunded.v1 consumer: IssueRefundReceipt. It emits nothing
/// (fiscal.receipt_issued.v1 means a sale to its consumers).
bus::EventHandler RefundReceiptHandler();

/// The payments.payment_captured.v1 consumer: IssueReceipt, and only when it issued,
/// emits fiscal.receipt_issued.v1 in the same transaction. `bus` owns the handler.
bus::EventHandler ReceiptHandler(bus::Bus& bus);

}  // namespace keel::fiscal
