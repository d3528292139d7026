#include "receipt_store.hpp"

namespace keel::fiscal {

constexpr std::string_view kListSql = R"(
SELECT id, number, order_id, payment_id, user_id, amount, currency,
       to_char(issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       floor(extract(epoch FROM issued_at) * 1000)::bigint
FROM receipts
WHERE ($1::uuid IS NULL OR user_id = $1::uuid) AND ($2::uuid IS NULL OR order_id = $2::uuid)
ORDER BY number DESC
LIMIT $3)";

Task<std::vector<Receipt>> ReceiptStore::List(const std::optional<std::string>& user_id,
                                              const std::optional<std::string>& order_id,
                                              int limit) {
    auto rows = co_await pool_->Execute(kListSql, pg::Param(user_id), pg::Param(order_id), limit);
    std::vector<Receipt> out;
    out.reserve(static_cast<std::size_t>(rows.Rows()));
    for (int i = 0; i < rows.Rows(); ++i) {
        out.push_back(
            Receipt{std::string(rows.Text(i, 0)), rows.Int(i, 1), std::string(rows.Text(i, 2)),
                    std::string(rows.Text(i, 3)), std::string(rows.Text(i, 4)), rows.Int(i, 5),
                    std::string(rows.Text(i, 6)), std::string(rows.Text(i, 7)), rows.Int(i, 8)});
    }
    co_return out;
}

constexpr std::string_view kCountSql = "SELECT count(*), count(DISTINCT order_id) FROM receipts";

Task<ReceiptStore::Stats> ReceiptStore::Count() {
    auto r = co_await pool_->Execute(kCountSql);
    co_return Stats{r.Int(0, 0), r.Int(0, 1)};
}

}  // namespace keel::fiscal
