#pragma once
#include <memory>

#include <keel/http/router.hpp>

#include "co_purchases.hpp"

namespace keel::recommendations {

struct RecommendationsContext {
    std::shared_ptr<CoPurchaseStore> store;
};

/// GET /api/recommendations/products/{id}: products bought together with a product.
http::Router MakeRouter(const std::shared_ptr<RecommendationsContext>& ctx);

}  // namespace keel::recommendations
