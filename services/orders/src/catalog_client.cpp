#include "catalog_client.hpp"

#include <boost/json/parse.hpp>

#include <map>

#include <keel/core/log.hpp>

namespace keel::orders {
namespace json = boost::json;
using http::HttpError;
using http::Status;

Task<CatalogClient::Priced> CatalogClient::Price(std::vector<OrderLine> lines) {
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
    std::map<std::string, std::pair<std::int64_t, std::string>> prices;
    try {
        const auto body = json::parse(response.body());
        for (const auto& item : body.at("items").as_array()) {
            const auto& p = item.as_object();
            prices[std::string(p.at("id").as_string())] = {
                p.at("price_minor").to_number<std::int64_t>(),
                std::string(p.at("currency").as_string())};
        }
    } catch (const std::exception& e) {
        throw HttpError(Status::bad_gateway,
                        std::string("the catalog answered something unexpected: ") + e.what());
    }
    Priced out;
    std::string unknown;
    for (auto& line : lines) {
        const auto it = prices.find(line.product_id);
        if (it == prices.end()) {
            unknown += (unknown.empty() ? "" : ", ") + line.product_id;
            continue;
        }
        line.unit_price = it->second.first;
        if (out.currency.empty()) out.currency = it->second.second;
        if (out.currency != it->second.second)
            throw HttpError(Status::unprocessable_entity, "an order cannot mix currencies (" +
                                                              out.currency + " and " +
                                                              it->second.second + ")");
        out.total += line.unit_price * line.quantity;
    }
    if (!unknown.empty())
        throw HttpError(Status::unprocessable_entity, "no such product: " + unknown);
    out.lines = std::move(lines);
    co_return out;
}

}  // namespace keel::orders
