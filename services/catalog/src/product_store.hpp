#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <keel/pg/pool.hpp>

#include "product.hpp"

namespace keel::catalog {

/// Products in catalog's database.
class ProductStore final {
public:
    explicit ProductStore(std::shared_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

    struct Page {
        std::vector<Product> items;
        std::optional<std::string> next_cursor;
    };
    /// Products whose name or description contains `query` (case-insensitive), in id
    /// order, after `cursor` (an id; empty for the first page).
    Task<Page> List(const std::string& query, const std::string& cursor, int limit);
    Task<std::optional<Product>> Get(const std::string& id);
    Task<std::vector<Product>> GetMany(const std::vector<std::string>& ids);

    enum class WriteOutcome { kDone, kNotFound, kSkuTaken };
    Task<WriteOutcome> Create(Product& product);
    Task<WriteOutcome> Update(const Product& product);
    Task<WriteOutcome> Delete(const std::string& id);

private:
    std::shared_ptr<pg::Pool> pool_;
};

/// Escapes LIKE wildcards so user text matches literally.
std::string EscapeLike(const std::string& text);

}  // namespace keel::catalog
