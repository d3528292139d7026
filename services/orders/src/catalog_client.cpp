#include "catalog_client.hpp"

#include <boost/json/parse.hpp>

#include <keel/core/log.hpp>

namespace keel::orders {
namespace json = boost::json;
using http::HttpError;
using http::Status;

CatalogPrices ParseCatalogPrices(std::string_view body) {
    CatalogPrices prices;
    const auto parsed = json::parse(body);
    for (const auto& item : parsed.at("items").as_array()) {
        const auto& p = item.as_object();
        prices[std::string(p.at("id").as_string())] =
            CatalogPrice{p.at("price_minor").to_number<std::int64_t>(),
                         std::string(p.at("currency").as_string())};
    }
    return prices;
}

Task<http::Response> CatalogClient::FetchProducts(const std::vector<OrderLine>& lines) {
    std::string url = base_url_ + "/internal/products?ids=";
    for (std::size_t i = 0; i < lines.size(); ++i) url += (i ? "," : "") + lines[i].product_id;
    http::Response response;
    std::string failure;
    try {
        std::vector<std::pair<std::string, std::string>> headers = {
            {"Authorization", "Bearer " + token_}};
        response = co_await client_->Get(url, deadline_, std::move(headers));
    } catch (const std::exception& e) {
        failure = e.what();
    }
    if (!failure.empty() || response.result() != Status::ok) {
        log::Warn("catalog could not price an order",
                  {{"error", failure.empty() ? std::to_string(response.result_int()) : failure}});
        throw HttpError(Status::service_unavailable,
                        "the catalog cannot price the order right now; retry later");
    }
    co_return response;
}

Task<Pricing> CatalogClient::Price(std::vector<OrderLine> lines) {
    const auto response = co_await FetchProducts(lines);
    CatalogPrices prices;
    try {
        prices = ParseCatalogPrices(response.body());
    } catch (const std::exception& e) {
        throw HttpError(Status::bad_gateway,
                        std::string("the catalog answered something unexpected: ") + e.what());
    }
    co_return PriceLines(std::move(lines), prices);
}

}  // namespace keel::orders
