#include "product.hpp"

#include <algorithm>

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

std::string ToJson(const Product& p) { return http::ToJson(ToJsonObject(p)); }

Product ReadProductInput(const http::Request& request) {
    auto body = http::ParseJsonObject(request);
    http::ObjectReader reader(body);
    Product p;
    auto sku = reader.String("sku", true, 1, 64);
    auto name = reader.String("name", true, 1, 200);
    auto description = reader.String("description", false, 0, 4000);
    auto price = reader.Int("price_minor", true, 0, 1'000'000'000'000LL);
    auto currency = reader.String("currency", true, 3, 3);
    auto stock = reader.Int("stock", true, 0, 1'000'000'000);
    if (currency && !std::all_of(currency->begin(), currency->end(),
                                 [](char c) { return c >= 'A' && c <= 'Z'; })) {
        reader.AddProblem("currency", "must be an ISO 4217 code such as EUR");
    }
    reader.Finish();
    p.sku = *sku;
    p.name = *name;
    p.description = description.value_or("");
    p.price_minor = *price;
    p.currency = *currency;
    p.stock = *stock;
    return p;
}

}  // namespace keel::catalog
