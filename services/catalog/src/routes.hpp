#pragma once
#include <memory>

#include <keel/http/router.hpp>

#include "product_cache.hpp"
#include "product_store.hpp"
#include "reservation_store.hpp"

namespace keel::catalog {

struct CatalogContext {
    std::shared_ptr<ProductStore> store;
    std::shared_ptr<ProductCache> cache;
    std::shared_ptr<ReservationStore> reservations;
};

/// The Warning (RFC 7234 section 5.5) on a product served from an old copy because the
/// database could not be reached.
inline constexpr const char* kStaleWarning = "110 - \"Response is Stale\"";

/// Public browse routes, admin writes, and /internal/products and /internal/stock/check
/// for other services and the checks of the test suites.
http::Router MakeRouter(const std::shared_ptr<CatalogContext>& ctx);

}  // namespace keel::catalog
