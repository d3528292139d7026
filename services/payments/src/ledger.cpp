#include "ledger.hpp"

namespace keel::payments {

// One statement: the transaction row and both entries (the foreign key is checked at
// the end of the statement, the balance at COMMIT).
constexpr std::string_view kRecordSql = R"(
WITH t AS (
    INSERT INTO ledger_transactions (id, kind, user_id, order_id, amount, currency)
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
)
INSERT INTO ledger_entries (transaction_id, account, amount)
SELECT t.id, e.account, e.amount
FROM t, (VALUES ($7::text, -$5::bigint), ($8::text, $5::bigint)) AS e (account, amount))";

Task<void> Record(pg::Connection& c, const LedgerTransaction& t) {
    co_await c.Execute(kRecordSql, t.id, t.kind, t.user_id, pg::Param(t.order_id), t.amount,
                       t.currency, t.debit_account, t.credit_account);
}

Task<void> RecordLater(pg::Connection& c, const LedgerTransaction& t) {
    co_await c.ExecuteLater(kRecordSql, t.id, t.kind, t.user_id, pg::Param(t.order_id), t.amount,
                            t.currency, t.debit_account, t.credit_account);
}

}  // namespace keel::payments
