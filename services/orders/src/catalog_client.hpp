#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <keel/http/client.hpp>

#include "order.hpp"

namespace keel::orders {

/// Prices order lines from catalog's /internal/products (service token), so that
/// what the buyer pays is what the catalog says now, not what the client sent.
/// Thread-safe.
class CatalogClient final {
public:
    CatalogClient(std::shared_ptr<http::Client> client, std::string base_url,
                  std::string service_token, std::chrono::milliseconds deadline)
        : client_(std::move(client)),
          base_url_(std::move(base_url)),
          token_(std::move(service_token)),
          deadline_(deadline) {}

    /// The lines priced, or the problem with them (unknown products, mixed
    /// currencies). Throws HttpError 503 when catalog cannot answer and 502 when its
    /// answer is malformed.
    Task<Pricing> Price(std::vector<OrderLine> lines);

private:
    Task<http::Response> FetchProducts(const std::vector<OrderLine>& lines);

    std::shared_ptr<http::Client> client_;
    std::string base_url_;
    std::string token_;
    std::chrono::milliseconds deadline_;
};

/// Reads the body of catalog's /internal/products: `{items:[{id, price_minor,
/// currency, ...}]}`. Throws std::exception on anything else.
CatalogPrices ParseCatalogPrices(std::string_view body);

}  // namespace keel::orders
