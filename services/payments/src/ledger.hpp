#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <keel/pg/pool.hpp>

namespace keel::payments {

/// Ledger accounts: one per wallet, and the two counterparties of the money flows.
inline constexpr const char* kTopUpAccount = "external:top_up";
inline constexpr const char* kMerchantAccount = "merchant:revenue";
inline std::string WalletAccount(const std::string& user_id) { return "wallet:" + user_id; }

/// One double-entry transaction: `amount` moves from `debit_account` (its entry is
/// -amount) to `credit_account` (+amount).
struct LedgerTransaction {
    std::string id;
    std::string kind;  ///< "top_up" or "capture"
    std::string user_id;
    std::optional<std::string> order_id;  ///< captures only
    std::int64_t amount = 0;
    std::string currency;
    std::string debit_account;
    std::string credit_account;
};

/// Writes the transaction and its two entries in `connection`'s open transaction.
/// Throws pg::QueryError (unique violation when the order already has a capture).
Task<void> Record(pg::Connection& connection, const LedgerTransaction& transaction);
/// Record, sent with the transaction's next statement or its COMMIT (one round trip
/// fewer); for callers that handle no error of it apart from the whole transaction's.
Task<void> RecordLater(pg::Connection& connection, const LedgerTransaction& transaction);

}  // namespace keel::payments
