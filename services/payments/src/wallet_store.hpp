#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <keel/pg/pool.hpp>

namespace keel::payments {

struct Wallet {
    std::string user_id;
    std::int64_t balance = 0;
    std::string currency;
};

/// One line of a wallet's history; `amount` is signed from the wallet's point of
/// view (top-ups positive, captures negative).
struct WalletTransaction {
    std::string id;
    std::string kind;
    std::int64_t amount = 0;
    std::optional<std::string> order_id;
    std::string created_at;  ///< RFC 3339, UTC, milliseconds
};

/// Sums that agree when the ledger is sound: entries_sum == 0, wallets_sum ==
/// wallet_entries_sum, unbalanced_transactions == 0.
struct LedgerCheck {
    std::int64_t entries_sum = 0;
    std::int64_t wallets_sum = 0;
    std::int64_t wallet_entries_sum = 0;
    std::int64_t unbalanced_transactions = 0;
};

/// Adds `amount` (> 0) to the user's wallet in `connection`'s open transaction, opening
/// it in `currency` when there is none; the caller writes the ledger transaction. Returns
/// the balance after, or nullopt (nothing changed) when the wallet holds another currency.
Task<std::optional<std::int64_t>> CreditWallet(pg::Connection& connection, std::string user_id,
                                               std::int64_t amount, std::string currency);

/// Wallets in payments' database: top-ups, balance, history. Thread-safe (the pool is).
class WalletStore final {
public:
    /// `currency`: the one currency wallets are opened in (PAYMENTS_CURRENCY).
    WalletStore(std::shared_ptr<pg::Pool> pool, std::string currency)
        : pool_(std::move(pool)), currency_(std::move(currency)) {}

    enum class TopUpOutcome {
        kCredited,          ///< a new top-up
        kReplayed,          ///< same Idempotency-Key and amount: the first response again
        kKeyReused,         ///< same Idempotency-Key, another amount: nothing done
        kCurrencyMismatch,  ///< the wallet was opened in another currency: nothing done
    };
    struct TopUp {
        TopUpOutcome outcome = TopUpOutcome::kCredited;
        Wallet wallet;  ///< after the top-up (for kReplayed: as the first response said)
    };
    /// Credits `amount` (> 0) to the user's wallet, opening it if needed: a ledger
    /// transaction external:top_up -> wallet:<user_id>, all in one database transaction.
    /// Operators only (POST /internal/wallets/{user_id}/top-up, service token); users top
    /// up through the payment provider (TopUpStore).
    Task<TopUp> TopUpWallet(const std::string& user_id, std::int64_t amount,
                            const std::optional<std::string>& idempotency_key);
    /// The wallet, or balance 0 in the configured currency when there is none yet.
    Task<Wallet> Get(const std::string& user_id);
    /// The wallet's ledger lines, newest first.
    Task<std::vector<WalletTransaction>> History(const std::string& user_id, int limit);
    /// Whole-ledger sums, from one snapshot.
    Task<LedgerCheck> Check();

    const std::string& Currency() const { return currency_; }

private:
    std::shared_ptr<pg::Pool> pool_;
    std::string currency_;
};

}  // namespace keel::payments
