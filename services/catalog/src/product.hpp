#pragma once
#include <cstdint>
#include <string>

#include <keel/http/json_body.hpp>

namespace keel::catalog {

struct Product {
    std::string id;
    std::string sku;
    std::string name;
    std::string description;
    std::int64_t price_minor = 0;
    std::string currency;
    std::int64_t stock = 0;
};

/// The product's JSON representation (the API's and the cache's).
std::string ToJson(const Product& product);
boost::json::object ToJsonObject(const Product& product);

/// Reads {sku, name, description?, price_minor, currency, stock} strictly; throws
/// HttpError 422 listing every problem.
Product ReadProductInput(const http::Request& request);

}  // namespace keel::catalog
