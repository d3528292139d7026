#include "co_purchases.hpp"

#include <algorithm>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

namespace keel::recommendations {

std::vector<std::string> DistinctProductIds(const boost::json::value& order_payload) {
    std::vector<std::string> ids;
    for (const auto& item : order_payload.at("items").as_array()) {
        const auto& text = item.at("product_id").as_string();
        const auto id = Uuid::Parse(std::string_view(text.data(), text.size()));
        if (!id) {
            log::Warn("order line with a product id that is not a UUID; not counted",
                      {{"product_id", std::string_view(text.data(), text.size())}});
            continue;
        }
        ids.push_back(id->ToString());
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

// One statement per batch, rows in key order: transactions counting overlapping
// orders lock the rows they share in the same order, so they queue rather than
// deadlock (one statement per order would lock them in batch order instead).
constexpr std::string_view kCountPairsSql = R"(
INSERT INTO co_purchases (product_id, related_id, count)
SELECT a, b, n FROM unnest($1::uuid[], $2::uuid[], $3::bigint[]) AS t(a, b, n)
ORDER BY a, b
ON CONFLICT (product_id, related_id) DO UPDATE SET count = co_purchases.count + EXCLUDED.count)";

PairCounts CountPairs(std::span<const bus::Event> events) {
    PairCounts counts;
    for (const auto& event : events) {
        const auto ids = DistinctProductIds(event.payload);
        for (const auto& a : ids)
            for (const auto& b : ids)
                if (a != b) ++counts[{a, b}];
    }
    return counts;
}

Task<void> AddPairCounts(pg::Connection& connection, PairCounts counts) {
    if (counts.empty()) co_return;
    std::string products = "{", related = "{", numbers = "{";
    for (const auto& count : counts) {  // (no structured bindings in coroutines: GCC 12)
        if (products.size() > 1) {
            products += ',';
            related += ',';
            numbers += ',';
        }
        products += count.first.first;
        related += count.first.second;
        numbers += std::to_string(count.second);
    }
    products += '}';
    related += '}';
    numbers += '}';
    co_await connection.Execute(kCountPairsSql, products, related, numbers);
}

bus::BatchHandler CountCoPurchases() {
    return [](pg::Connection& c, std::span<const bus::Event> events) -> Task<void> {
        return AddPairCounts(c, CountPairs(events));
    };
}

constexpr std::string_view kRelatedSql = R"(
SELECT related_id::text, count FROM co_purchases
WHERE product_id = $1::uuid
ORDER BY count DESC, related_id
LIMIT $2)";

Task<std::vector<RelatedProduct>> CoPurchaseStore::Related(const std::string& product_id,
                                                           int limit) {
    auto rows = co_await pool_->Execute(kRelatedSql, product_id, limit);
    std::vector<RelatedProduct> out;
    out.reserve(static_cast<std::size_t>(rows.Rows()));
    for (int i = 0; i < rows.Rows(); ++i)
        out.push_back(RelatedProduct{std::string(rows.Text(i, 0)), rows.Int(i, 1)});
    co_return out;
}

}  // namespace keel::recommendations
