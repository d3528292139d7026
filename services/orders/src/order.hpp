#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include <keel/http/message.hpp>

namespace keel::orders {

struct OrderLine {
    std::string product_id;
    std::int64_t quantity = 0;
    std::int64_t unit_price = 0;  // minor units, from catalog at placement
};

struct Order {
    std::string id;
    std::string user_id;
    std::string status;  // PENDING, CONFIRMED, CANCELLED
    std::vector<OrderLine> items;
    std::int64_t total = 0;
    std::string currency;
    std::optional<std::string> reason;
    std::optional<std::string> payment_id;
    std::string correlation_id;
    std::string created_at;
    std::string updated_at;
};

/// What a client asks for: product ids (sorted, unique) and quantities.
struct OrderRequest {
    std::vector<OrderLine> items;  // unit_price still 0
    /// SHA-256 of the normalised request: the same body under the same key is a retry.
    std::string hash;
};

/// Reads `{items:[{product_id, quantity}]}`; 422 with every problem otherwise.
OrderRequest ReadOrderRequest(const http::Request& request);

boost::json::array LinesToJson(const std::vector<OrderLine>& lines);
/// Throws std::invalid_argument on malformed input.
std::vector<OrderLine> LinesFromJson(const boost::json::value& value);
boost::json::object ToJson(const Order& order);

}  // namespace keel::orders
