#include "top_up_store.hpp"

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

#include "ledger.hpp"
#include "wallet_store.hpp"

namespace keel::payments {
namespace {

#define KEEL_TOP_UP_COLUMNS                                                         \
    "id::text, user_id::text, amount, currency, status, provider_payment_id, "      \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), " \
    "to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

TopUpRecord Read(const pg::Result& r, int row) {
    return TopUpRecord{
        std::string(r.Text(row, 0)), std::string(r.Text(row, 1)), r.Int(row, 2),
        std::string(r.Text(row, 3)), std::string(r.Text(row, 4)), r.OptionalText(row, 5),
        std::string(r.Text(row, 6)), r.OptionalText(row, 7)};
}

using Outcome = TopUpStore::Outcome;

}  // namespace

constexpr std::string_view kCreateSql = R"(
INSERT INTO top_ups (id, user_id, amount, currency, status) VALUES ($1, $2, $3, $4, 'pending')
RETURNING )" KEEL_TOP_UP_COLUMNS;

Task<TopUpRecord> TopUpStore::Create(std::string user_id, std::int64_t amount) {
    auto r = co_await pool_->Execute(kCreateSql, Uuid::V7().ToString(), user_id, amount, currency_);
    co_return Read(r, 0);
}

constexpr std::string_view kGetSql =
    "SELECT " KEEL_TOP_UP_COLUMNS " FROM top_ups WHERE id = $1 AND user_id = $2";

Task<std::optional<TopUpRecord>> TopUpStore::Get(std::string user_id, std::string id) {
    if (!Uuid::Parse(id)) co_return std::nullopt;
    auto r = co_await pool_->Execute(kGetSql, id, user_id);
    if (r.Rows() == 0) co_return std::nullopt;
    co_return Read(r, 0);
}

// The row lock queues concurrent callbacks of one top-up: the second sees it settled.
constexpr std::string_view kLockSql =
    "SELECT " KEEL_TOP_UP_COLUMNS " FROM top_ups WHERE id = $1 FOR UPDATE";
constexpr std::string_view kProviderPaymentUsedSql =
    "SELECT 1 FROM top_ups WHERE provider_payment_id = $1";
constexpr std::string_view kSettleSql = R"(
UPDATE top_ups SET status = $2, provider_payment_id = $3, transaction_id = $4,
                   completed_at = now()
WHERE id = $1
RETURNING )" KEEL_TOP_UP_COLUMNS;

Task<TopUpStore::Settlement> TopUpStore::Settle(ProviderCallback cb) {
    Settlement result;
    if (!Uuid::Parse(cb.top_up_id)) co_return result;  // kUnknown
    auto body = [&](pg::Connection& c) -> Task<void> {
        auto found = co_await c.Execute(kLockSql, cb.top_up_id);
        if (found.Rows() == 0) co_return;  // kUnknown
        result.top_up = Read(found, 0);
        const TopUpRecord& t = *result.top_up;
        if (t.status != "pending") {
            result.outcome = t.provider_payment_id == cb.provider_payment_id ? Outcome::kReplayed
                                                                             : Outcome::kConflict;
            co_return;
        }
        if (t.amount != cb.amount || t.currency != cb.currency) {
            result.outcome = Outcome::kMismatch;
            co_return;
        }
        // The unique constraint would refuse it too, but as an error that aborts.
        auto used = co_await c.Execute(kProviderPaymentUsedSql, cb.provider_payment_id);
        if (used.Rows() > 0) {
            result.outcome = Outcome::kConflict;
            co_return;
        }
        pg::Param transaction_id = pg::Null();
        if (cb.status == "succeeded") {
            const LedgerTransaction credit{.id = Uuid::V7().ToString(),
                                           .kind = "top_up",
                                           .user_id = t.user_id,
                                           .amount = t.amount,
                                           .currency = t.currency,
                                           .debit_account = kTopUpAccount,
                                           .credit_account = WalletAccount(t.user_id)};
            const auto balance = co_await CreditWallet(c, t.user_id, t.amount, t.currency);
            if (!balance) {  // the wallet holds another currency (PAYMENTS_CURRENCY changed)
                result.outcome = Outcome::kMismatch;
                co_return;
            }
            co_await Record(c, credit);
            transaction_id = credit.id;
        }
        const std::string status = cb.status == "succeeded" ? "succeeded" : "failed";
        auto settled = co_await c.Execute(kSettleSql, cb.top_up_id, status, cb.provider_payment_id,
                                          transaction_id);
        result.top_up = Read(settled, 0);
        result.outcome = status == "succeeded" ? Outcome::kCredited : Outcome::kFailed;
    };
    co_await pool_->Transaction(body);
    if (result.outcome == Outcome::kCredited || result.outcome == Outcome::kFailed) {
        log::Info("top-up settled by the provider",
                  {{"top_up_id", cb.top_up_id},
                   {"provider_payment_id", cb.provider_payment_id},
                   {"status", result.top_up->status}});
    }
    co_return result;
}

#undef KEEL_TOP_UP_COLUMNS

}  // namespace keel::payments
