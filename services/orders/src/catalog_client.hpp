#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <keel/http/client.hpp>

#include "order.hpp"

namespace keel::orders {

/// Prices order lines from catalog's /internal/products (service token), so that
/// what the buyer pays is what the catalog says now, not what the client sent.
class CatalogClient final {
public:
    CatalogClient(std::shared_ptr<http::Client> client, std::string base_url,
                  std::string service_token, std::chrono::milliseconds deadline)
        : client_(std::move(client)),
          base_url_(std::move(base_url)),
          token_(std::move(service_token)),
          deadline_(deadline) {}

    struct Priced {
        std::vector<OrderLine> lines;
        std::int64_t total = 0;
        std::string currency;
    };
    /// Throws HttpError: 422 for unknown products or mixed currencies, 503 when
    /// catalog cannot answer.
    Task<Priced> Price(std::vector<OrderLine> lines);

private:
    std::shared_ptr<http::Client> client_;
    std::string base_url_;
    std::string token_;
    std::chrono::milliseconds deadline_;
};

}  // namespace keel::orders
