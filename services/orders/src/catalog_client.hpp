#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <keel/http/deadline.hpp>
#include <keel/resilience/downstream.hpp>

#include "order.hpp"

namespace keel::orders {

/// Prices order lines from catalog's /internal/products (service token), so that
/// what the buyer pays is what the catalog says now, not what the client sent. The calls go
/// through a resilience::Downstream: within the order request's deadline, behind catalog's
/// circuit breaker and bulkhead, retried (a GET) within the retry budget.
/// Thread-safe.
class CatalogClient final {
public:
    CatalogClient(std::shared_ptr<resilience::Downstream> catalog, std::string base_url,
                  std::string service_token)
        : catalog_(std::move(catalog)),
          base_url_(std::move(base_url)),
          token_(std::move(service_token)) {}

    /// The lines priced, or the problem with them (unknown products, mixed currencies).
    /// Throws HttpError 503 with Retry-After when catalog cannot answer before `deadline`
    /// (at once while its breaker is open) and 502 when its answer is malformed.
    Task<Pricing> Price(std::vector<OrderLine> lines, http::SteadyTime deadline);

private:
    Task<http::Response> FetchProducts(const std::vector<OrderLine>& lines,
                                       http::SteadyTime deadline);

    std::shared_ptr<resilience::Downstream> catalog_;
    std::string base_url_;
    std::string token_;
};

/// Reads the body of catalog's /internal/products: `{items:[{id, price_minor,
/// currency, ...}]}`. Throws std::exception on anything else.
CatalogPrices ParseCatalogPrices(std::string_view body);

}  // namespace keel::orders
