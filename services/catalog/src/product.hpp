#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

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

/// True for three upper-case ASCII letters, the shape of an ISO 4217 code such as EUR.
bool IsCurrencyCode(std::string_view text);

}  // namespace keel::catalog
