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

// Rows in key order, so that two transactions counting overlapping orders lock the
// rows they share in the same order and cannot deadlock on one statement.
constexpr std::string_view kCountPairs = R"(
INSERT INTO co_purchases (product_id, related_id, count)
SELECT a.id, b.id, 1
FROM unnest($1::uuid[]) AS a(id) CROSS JOIN unnest($1::uuid[]) AS b(id)
WHERE a.id <> b.id
ORDER BY a.id, b.id
ON CONFLICT (product_id, related_id) DO UPDATE SET count = co_purchases.count + 1)";

Task<void> CountPairs(pg::Connection& connection, const std::vector<std::string>& product_ids) {
    if (product_ids.size() < 2) co_return;
    std::string array = "{";
    for (std::size_t i = 0; i < product_ids.size(); ++i) array += (i ? "," : "") + product_ids[i];
    array += "}";
    co_await connection.Execute(kCountPairs, array);
}

bus::EventHandler CountCoPurchases() {
    return [](pg::Connection& c, const bus::Event& event) -> Task<void> {
        const auto ids = DistinctProductIds(event.payload);
        co_await CountPairs(c, ids);
    };
}

constexpr std::string_view kRelated = R"(
SELECT related_id::text, count FROM co_purchases
WHERE product_id = $1::uuid
ORDER BY count DESC, related_id
LIMIT $2)";

Task<std::vector<RelatedProduct>> CoPurchaseStore::Related(const std::string& product_id,
                                                           int limit) {
    auto rows = co_await pool_->Execute(kRelated, product_id, limit);
    std::vector<RelatedProduct> out;
    out.reserve(static_cast<std::size_t>(rows.Rows()));
    for (int i = 0; i < rows.Rows(); ++i)
        out.push_back(RelatedProduct{std::string(rows.Text(i, 0)), rows.Int(i, 1)});
    co_return out;
}

}  // namespace keel::recommendations
