#pragma once
#include <cstdint>
#include <string>

#include <boost/json/value.hpp>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

namespace keel::payments {

/// The payload of catalog.stock_reserved.v1: an order ready to be paid.
struct StockReserved {
    std::string order_id;
    std::string user_id;
    std::int64_t total = 0;
    std::string currency;
};

/// Reads a stock_reserved payload (already schema-checked by the bus). Throws
/// std::invalid_argument when order_id or user_id is not a UUID: a producer bug,
/// left to the bus's retries and dead letters.
StockReserved ReadStockReserved(const boost::json::value& payload);

/// Why an order could not be paid (payments.payment_declined.v1 `reason`).
inline constexpr const char* kNoWallet = "no_wallet";
inline constexpr const char* kInsufficientFunds = "insufficient_funds";
inline constexpr const char* kCurrencyMismatch = "currency_mismatch";
inline constexpr const char* kInvalidAmount = "invalid_amount";

struct CaptureDecision {
    enum class Kind {
        kCaptured,        ///< the wallet paid: payment_id is the ledger transaction
        kDeclined,        ///< nothing moved: reason says why
        kAlreadyDecided,  ///< the order was captured or declined before: do nothing
        kOrderCancelled,  ///< orders cancelled it already (order_cancellations): do nothing
    };
    Kind kind = Kind::kAlreadyDecided;
    std::string payment_id;
    std::string reason;
};

/// Takes the per-order lock (until the transaction ends) that serialises the capture
/// decision and the cancellation of one order (DecideCapture, RecordCancellation).
Task<void> LockOrder(pg::Connection& connection, std::string order_id);

/// Decides, once per order, in `connection`'s open transaction: debits the wallet
/// when its balance covers the total (one conditional UPDATE) and records the capture
/// (wallet:<user> -> merchant:revenue), or records a decline. `currency` is the one
/// wallets hold (PAYMENTS_CURRENCY). Concurrent deciders of one order queue on an
/// advisory lock, so the second sees the first's decision. An order payments knows
/// was cancelled (orders.order_cancelled.v1 came first) is never captured.
Task<CaptureDecision> DecideCapture(pg::Connection& connection, const StockReserved& order,
                                    const std::string& currency);

/// The catalog.stock_reserved.v1 consumer: DecideCapture, then emits
/// payments.payment_captured.v1 or payments.payment_declined.v1 in the same transaction
/// (nothing when already decided), for each event of a batch after locking the batch's
/// wallets in user id order. `bus` owns the handler, so it outlives it.
bus::BatchHandler CaptureHandler(bus::Bus& bus, std::string currency);

}  // namespace keel::payments
