#include "product_store.hpp"

#include <keel/core/uuid.hpp>

namespace keel::catalog {
namespace {

// The columns of the SELECTs below, in this order.
Product RowToProduct(const pg::Result& r, int row) {
    return Product{std::string(r.Text(row, 0)),
                   std::string(r.Text(row, 1)),
                   std::string(r.Text(row, 2)),
                   std::string(r.Text(row, 3)),
                   r.Int(row, 4),
                   std::string(r.Text(row, 5)),
                   r.Int(row, 6)};
}

}  // namespace

std::string EscapeLike(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '\\' || c == '%' || c == '_') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

constexpr std::string_view kListSql = R"(
SELECT id, sku, name, description, price_minor, currency, stock FROM products
WHERE ($1 = '' OR name ILIKE '%' || $1 || '%' OR description ILIKE '%' || $1 || '%')
  AND ($2 = '' OR id > $2::uuid)
ORDER BY id
LIMIT $3)";

Task<ProductStore::Page> ProductStore::List(const std::string& query, const std::string& cursor,
                                            int limit) {
    // One extra row tells whether there is a next page.
    auto rows = co_await pool_->Execute(kListSql, EscapeLike(query), cursor, limit + 1);
    Page page;
    for (int i = 0; i < rows.Rows() && i < limit; ++i) page.items.push_back(RowToProduct(rows, i));
    if (rows.Rows() > limit) page.next_cursor = page.items.back().id;
    co_return page;
}

constexpr std::string_view kGetSql = R"(
SELECT id, sku, name, description, price_minor, currency, stock FROM products
WHERE id = $1::uuid)";

Task<std::optional<Product>> ProductStore::Get(const std::string& id) {
    auto rows = co_await pool_->Execute(kGetSql, id);
    if (rows.Rows() == 0) co_return std::nullopt;
    co_return RowToProduct(rows, 0);
}

constexpr std::string_view kGetManySql = R"(
SELECT id, sku, name, description, price_minor, currency, stock FROM products
WHERE id = ANY($1::uuid[]) ORDER BY id)";

Task<std::vector<Product>> ProductStore::GetMany(const std::vector<std::string>& ids) {
    std::string array = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) array += (i ? "," : "") + ids[i];
    array += "}";
    auto rows = co_await pool_->Execute(kGetManySql, array);
    std::vector<Product> out;
    out.reserve(static_cast<std::size_t>(rows.Rows()));
    for (int i = 0; i < rows.Rows(); ++i) out.push_back(RowToProduct(rows, i));
    co_return out;
}

constexpr std::string_view kInsertSql = R"(
INSERT INTO products (id, sku, name, description, price_minor, currency, stock)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (sku) DO NOTHING)";

Task<ProductStore::WriteOutcome> ProductStore::Create(Product& p) {
    p.id = Uuid::V7().ToString();
    auto r = co_await pool_->Execute(kInsertSql, p.id, p.sku, p.name, p.description, p.price_minor,
                                     p.currency, p.stock);
    co_return r.Affected() == 1 ? WriteOutcome::kDone : WriteOutcome::kSkuTaken;
}

constexpr std::string_view kUpdateSql = R"(
UPDATE products SET sku = $2, name = $3, description = $4, price_minor = $5, currency = $6, stock = $7,
                    updated_at = now()
WHERE id = $1::uuid)";

Task<ProductStore::WriteOutcome> ProductStore::Update(const Product& p) {
    try {
        auto r = co_await pool_->Execute(kUpdateSql, p.id, p.sku, p.name, p.description,
                                         p.price_minor, p.currency, p.stock);
        co_return r.Affected() == 1 ? WriteOutcome::kDone : WriteOutcome::kNotFound;
    } catch (const pg::QueryError& e) {
        if (!e.IsUniqueViolation()) throw;
    }
    co_return WriteOutcome::kSkuTaken;
}

constexpr std::string_view kDeleteSql = "DELETE FROM products WHERE id = $1::uuid";

Task<ProductStore::WriteOutcome> ProductStore::Delete(const std::string& id) {
    auto r = co_await pool_->Execute(kDeleteSql, id);
    co_return r.Affected() == 1 ? WriteOutcome::kDone : WriteOutcome::kNotFound;
}

}  // namespace keel::catalog
