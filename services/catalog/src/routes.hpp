#pragma once
#include <memory>

#include <keel/http/router.hpp>

#include "product_cache.hpp"
#include "product_store.hpp"

namespace keel::catalog {

struct CatalogContext {
    std::shared_ptr<ProductStore> store;
    std::shared_ptr<ProductCache> cache;
};

/// Public browse routes, admin writes, and /internal/products for other services.
http::Router MakeRouter(std::shared_ptr<CatalogContext> ctx);

}  // namespace keel::catalog
