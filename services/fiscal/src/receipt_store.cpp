#include "receipt_store.hpp"

namespace keel::fiscal {

// A refund's sale receipt is joined when read, so that it appears whichever of the two
// was issued first.
constexpr std::string_view kListSql = R"(
SELECT r.id, r.number, r.order_id, r.payment_id, r.user_id, r.amount, r.currency,
       to_char(r.issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       floor(extract(epoch FROM r.issued_at) * 1000)::bigint,
       r.kind, r.refund_id::text, s.id::text
FROM receipts r
LEFT JOIN receipts s ON r.kind = 'refund' AND s.kind = 'sale' AND s.order_id = r.order_id
WHERE ($1::uuid IS NULL OR r.user_id = $1::uuid) AND ($2::uuid IS NULL OR r.order_id = $2::uuid)
ORDER BY r.number DESC
LIMIT $3)";

Task<std::vector<Receipt>> ReceiptStore::List(const std::optional<std::string>& user_id,
                                              const std::optional<std::string>& order_id,
                                              int limit) {
    auto rows = co_await pool_->Execute(kListSql, pg::Param(user_id), pg::Param(order_id), limit);
    std::vector<Receipt> out;
    out.reserve(static_cast<std::size_t>(rows.Rows()));
    for (int i = 0; i < rows.Rows(); ++i) {
        out.push_back(Receipt{std::string(rows.Text(i, 0)), rows.Int(i, 1),
                              std::string(rows.Text(i, 2)), std::string(rows.Text(i, 3)),
                              std::string(rows.Text(i, 4)), rows.Int(i, 5),
                              std::string(rows.Text(i, 6)), std::string(rows.Text(i, 7)),
                              rows.Int(i, 8), std::string(rows.Text(i, 9))});
        if (!rows.IsNull(i, 10)) out.back().refund_id = std::string(rows.Text(i, 10));
        if (!rows.IsNull(i, 11)) out.back().sale_receipt_id = std::string(rows.Text(i, 11));
    }
    co_return out;
}

constexpr std::string_view kCountSql = R"(
SELECT count(*) FILTER (WHERE kind = 'sale'), count(DISTINCT order_id) FILTER (WHERE kind = 'sale'),
       count(*) FILTER (WHERE kind = 'refund'),
       count(DISTINCT order_id) FILTER (WHERE kind = 'refund')
FROM receipts)";

Task<ReceiptStore::Stats> ReceiptStore::Count() {
    auto r = co_await pool_->Execute(kCountSql);
    co_return Stats{r.Int(0, 0), r.Int(0, 1), r.Int(0, 2), r.Int(0, 3)};
}

}  // namespace keel::fiscal
