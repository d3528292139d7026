#include "wallet_store.hpp"

#include <keel/core/uuid.hpp>

#include "ledger.hpp"

namespace keel::payments {
namespace {

// Thrown inside a transaction body to roll it back after an expected outcome.
struct RollBack {};

// Concurrent requests with one key queue on the primary key: the second sees the
// first's row once it commits (or claims the key if the first rolled back).
constexpr std::string_view kClaimKeySql = R"(
INSERT INTO top_up_requests (user_id, idempotency_key, amount, transaction_id)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING)";
constexpr std::string_view kPriorRequestSql = R"(
SELECT amount, balance_after FROM top_up_requests WHERE user_id = $1 AND idempotency_key = $2)";

// Claims `key` for top-up `t` (true), or, when an earlier top-up holds it, writes into
// `result` whether this one replays it or reuses the key for another amount (false).
Task<bool> ClaimKey(pg::Connection& c, const LedgerTransaction& t, const std::string& key,
                    WalletStore::TopUp& result) {
    auto claimed = co_await c.Execute(kClaimKeySql, t.user_id, key, t.amount, t.id);
    if (claimed.Affected() > 0) co_return true;
    auto prior = co_await c.Execute(kPriorRequestSql, t.user_id, key);
    if (prior.Int(0, 0) != t.amount) {
        result.outcome = WalletStore::TopUpOutcome::kKeyReused;
    } else {
        result.outcome = WalletStore::TopUpOutcome::kReplayed;
        result.wallet.balance = prior.Int(0, 1);
    }
    co_return false;
}

}  // namespace

constexpr std::string_view kCreditSql = R"(
INSERT INTO wallets (user_id, balance, currency) VALUES ($1, $2, $3)
ON CONFLICT (user_id) DO UPDATE SET balance = wallets.balance + EXCLUDED.balance, updated_at = now()
    WHERE wallets.currency = EXCLUDED.currency
RETURNING balance)";

Task<std::optional<std::int64_t>> CreditWallet(pg::Connection& c, std::string user_id,
                                               std::int64_t amount, std::string currency) {
    auto credited = co_await c.Execute(kCreditSql, user_id, amount, currency);
    if (credited.Rows() == 0) co_return std::nullopt;
    co_return credited.Int(0, 0);
}
constexpr std::string_view kRememberResponseSql = R"(
UPDATE top_up_requests SET balance_after = $3 WHERE user_id = $1 AND idempotency_key = $2)";

Task<WalletStore::TopUp> WalletStore::TopUpWallet(const std::string& user_id, std::int64_t amount,
                                                  const std::optional<std::string>& key) {
    TopUp result;
    result.wallet = Wallet{user_id, 0, currency_};
    const LedgerTransaction t{.id = Uuid::V7().ToString(),
                              .kind = "top_up",
                              .user_id = user_id,
                              .amount = amount,
                              .currency = currency_,
                              .debit_account = kTopUpAccount,
                              .credit_account = WalletAccount(user_id)};
    auto body = [&](pg::Connection& c) -> Task<void> {
        if (key) {
            const bool claimed = co_await ClaimKey(c, t, *key, result);
            if (!claimed) co_return;
        }
        const auto balance = co_await CreditWallet(c, user_id, amount, currency_);
        if (!balance) {
            result.outcome = TopUpOutcome::kCurrencyMismatch;
            throw RollBack{};  // also releases the claimed key
        }
        result.wallet.balance = *balance;
        co_await Record(c, t);
        if (key) co_await c.Execute(kRememberResponseSql, user_id, *key, result.wallet.balance);
    };
    try {
        co_await pool_->Transaction(body);
    } catch (const RollBack&) {
    }
    co_return result;
}

constexpr std::string_view kWalletSql = "SELECT balance, currency FROM wallets WHERE user_id = $1";

Task<Wallet> WalletStore::Get(const std::string& user_id) {
    auto rows = co_await pool_->Execute(kWalletSql, user_id);
    if (rows.Rows() == 0) co_return Wallet{user_id, 0, currency_};
    co_return Wallet{user_id, rows.Int(0, 0), std::string(rows.Text(0, 1))};
}

constexpr std::string_view kHistorySql = R"(
SELECT t.id, t.kind, e.amount, t.order_id,
       to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
WHERE e.account = $1
ORDER BY e.id DESC
LIMIT $2)";

Task<std::vector<WalletTransaction>> WalletStore::History(const std::string& user_id, int limit) {
    auto rows = co_await pool_->Execute(kHistorySql, WalletAccount(user_id), limit);
    std::vector<WalletTransaction> out;
    out.reserve(static_cast<std::size_t>(rows.Rows()));
    for (int i = 0; i < rows.Rows(); ++i) {
        out.push_back(WalletTransaction{std::string(rows.Text(i, 0)), std::string(rows.Text(i, 1)),
                                        rows.Int(i, 2), rows.OptionalText(i, 3),
                                        std::string(rows.Text(i, 4))});
    }
    co_return out;
}

// One statement, so one snapshot: the sums agree even while money moves.
constexpr std::string_view kCheckSql = R"(
SELECT (SELECT coalesce(sum(amount), 0) FROM ledger_entries)::bigint,
       (SELECT coalesce(sum(balance), 0) FROM wallets)::bigint,
       (SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE account LIKE 'wallet:%')::bigint,
       (SELECT count(*) FROM (
            SELECT t.id FROM ledger_transactions t
            LEFT JOIN ledger_entries e ON e.transaction_id = t.id
            GROUP BY t.id
            HAVING count(e.id) < 2 OR coalesce(sum(e.amount), 0) <> 0) AS unbalanced))";

Task<LedgerCheck> WalletStore::Check() {
    auto r = co_await pool_->Execute(kCheckSql);
    co_return LedgerCheck{r.Int(0, 0), r.Int(0, 1), r.Int(0, 2), r.Int(0, 3)};
}

}  // namespace keel::payments
