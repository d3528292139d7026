#include "product.hpp"

#include <algorithm>

#include <boost/json/serialize.hpp>

namespace keel::catalog {

boost::json::object ToJsonObject(const Product& p) {
    return boost::json::object{{"id", p.id},
                               {"sku", p.sku},
                               {"name", p.name},
                               {"description", p.description},
                               {"price_minor", p.price_minor},
                               {"currency", p.currency},
                               {"stock", p.stock}};
}

std::string ToJson(const Product& p) { return boost::json::serialize(ToJsonObject(p)); }

bool IsCurrencyCode(std::string_view text) {
    return text.size() == 3 &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

}  // namespace keel::catalog
