#include "catalog_client.hpp"

#include <boost/json/parse.hpp>

#include <keel/core/log.hpp>
#include <keel/resilience/rejected.hpp>

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

Task<http::Response> CatalogClient::FetchProducts(const std::vector<OrderLine>& lines,
                                                  http::SteadyTime deadline) {
    resilience::Downstream::Call call;
    call.url = base_url_ + "/internal/products?ids=";
    for (std::size_t i = 0; i < lines.size(); ++i) call.url += (i ? "," : "") + lines[i].product_id;
    call.headers.emplace_back("Authorization", "Bearer " + token_);
    call.idempotent = true;
    call.deadline = deadline;
    http::Response response;
    std::string failure;
    std::optional<std::chrono::seconds> refused_for;  // a policy refused: no call was made
    try {
        response = co_await catalog_->Send(std::move(call));
    } catch (const resilience::Rejected& e) {
        failure = e.what();
        refused_for = e.RetryAfter();
    } catch (const std::exception& e) {
        failure = e.what();
    }
    if (refused_for) {
        // Not logged per request: with the breaker open that would be a line per order.
        throw HttpError(Status::service_unavailable,
                        "the catalog cannot price the order right now (" + failure + ")")
            .WithRetryAfter(*refused_for);
    }
    if (!failure.empty() || response.result() != Status::ok) {
        log::Warn("catalog could not price an order",
                  {{"error", failure.empty() ? std::to_string(response.result_int()) : failure}});
        throw HttpError(Status::service_unavailable,
                        "the catalog cannot price the order right now; retry later");
    }
    co_return response;
}

Task<Pricing> CatalogClient::Price(std::vector<OrderLine> lines, http::SteadyTime deadline) {
    const auto response = co_await FetchProducts(lines, deadline);
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
