#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <keel/pg/pool.hpp>

namespace keel::payments {

/// A wallet top-up through the payment provider.
struct TopUpRecord {
    std::string id;
    std::string user_id;
    std::int64_t amount = 0;
    std::string currency;
    std::string status;  ///< pending, succeeded, failed
    std::optional<std::string> provider_payment_id;
    std::string created_at;                   ///< RFC 3339, UTC, milliseconds
    std::optional<std::string> completed_at;  ///< when the provider's callback settled it
};

/// What the provider's callback says about a top-up (its signature already checked).
struct ProviderCallback {
    std::string top_up_id;
    std::string provider_payment_id;
    std::string status;  ///< succeeded or failed
    std::int64_t amount = 0;
    std::string currency;
};

/// Top-ups in payments' database: created pending by their user, settled once by the
/// provider's callback. Thread-safe (the pool is). Database failures throw.
class TopUpStore final {
public:
    /// `currency`: the one currency wallets hold (PAYMENTS_CURRENCY).
    TopUpStore(std::shared_ptr<pg::Pool> pool, std::string currency)
        : pool_(std::move(pool)), currency_(std::move(currency)) {}

    /// A new pending top-up of `amount` (> 0) for `user_id`; nothing is credited yet.
    Task<TopUpRecord> Create(std::string user_id, std::int64_t amount);
    /// The user's top-up; nullopt when there is none with that id (or it is another's).
    Task<std::optional<TopUpRecord>> Get(std::string user_id, std::string id);

    enum class Outcome {
        kCredited,  ///< succeeded now: the wallet was credited
        kFailed,    ///< the provider says it failed: recorded, nothing credited
        kReplayed,  ///< settled before by this provider payment: nothing done
        kUnknown,   ///< no such top-up: nothing done
        kMismatch,  ///< amount or currency differ from the top-up's: nothing done
        kConflict,  ///< settled by another provider payment, or this provider
                    ///< payment settled another top-up: nothing done
    };
    struct Settlement {
        Outcome outcome = Outcome::kUnknown;
        std::optional<TopUpRecord> top_up;  ///< as it is now (all but kUnknown)
    };
    /// Applies the callback exactly once, in one transaction: for succeeded, the wallet
    /// is credited (opened if needed) with a ledger transaction external:top_up ->
    /// wallet:<user_id>, and the top-up records the provider payment id (unique).
    /// Concurrent callbacks of one top-up queue on its row.
    Task<Settlement> Settle(ProviderCallback callback);

private:
    std::shared_ptr<pg::Pool> pool_;
    std::string currency_;
};

}  // namespace keel::payments
