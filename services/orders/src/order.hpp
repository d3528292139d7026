#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

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
    std::optional<std::string> reason;      // set when CANCELLED
    std::optional<std::string> payment_id;  // set when CONFIRMED
    std::string correlation_id;
    std::string created_at;
    std::string updated_at;
};

inline constexpr std::size_t kMaxLines = 50;
inline constexpr std::int64_t kMaxQuantity = 1000;

/// What a client asks for: product ids (lower case, sorted) and quantities.
struct OrderRequest {
    std::vector<OrderLine> items;  // unit_price still 0
    /// SHA-256 of the normalised request: the same body under the same key is a retry.
    std::string hash;
};

/// Normalises `lines` (product ids lower-cased, lines sorted by product) and hashes
/// them, so that the same lines in any order are the same request.
OrderRequest MakeOrderRequest(std::vector<OrderLine> lines);

/// Product ids that appear on more than one line of `request`, each once.
std::vector<std::string> RepeatedProducts(const OrderRequest& request);

/// A product's price as the catalog states it now.
struct CatalogPrice {
    std::int64_t price_minor = 0;
    std::string currency;
};
using CatalogPrices = std::map<std::string, CatalogPrice>;  // by product id

/// Lines with their unit prices, and what they come to.
struct Priced {
    std::vector<OrderLine> lines;
    std::int64_t total = 0;
    std::string currency;
};

/// The outcome of pricing: the priced lines, or what makes the order unpriceable
/// (a product the catalog does not know, or lines in different currencies).
struct Pricing {
    std::optional<Priced> priced;
    std::string problem;  // when !priced: a sentence for the client
};

/// Prices `lines` from `prices`.
Pricing PriceLines(std::vector<OrderLine> lines, const CatalogPrices& prices);

boost::json::array LinesToJson(const std::vector<OrderLine>& lines);
/// Throws std::invalid_argument on malformed input.
std::vector<OrderLine> LinesFromJson(const boost::json::value& value);
/// The order as the API shows it.
boost::json::object ToJson(const Order& order);

/// The payload of orders.order_placed.v1.
boost::json::value PlacedEvent(const Order& order, std::int64_t placed_at_ms);

/// An event with its topic.
struct TopicEvent {
    std::string topic;
    boost::json::value payload;
};
/// The event that announces a final order: orders.order_confirmed.v1 with its
/// payment, or orders.order_cancelled.v1 with the reason. Throws std::logic_error
/// for a PENDING order.
TopicEvent FinalEvent(const Order& order);

}  // namespace keel::orders
