#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

namespace keel::catalog {

/// One product of an order and how many units of it.
struct OrderLine {
    std::string product_id;  ///< lower-case UUID, or the text as sent when it is not a UUID
    std::int64_t quantity = 0;
};

/// What catalog needs of an orders.order_placed.v1 event.
struct PlacedOrder {
    std::string order_id;
    std::string user_id;
    std::vector<OrderLine> lines;  ///< one per product, in product id order
    std::int64_t total = 0;
    std::string currency;
};

/// Reads an order_placed payload. Lines of the same product are merged (quantities
/// added) and sorted by product id, the order in which rows are locked. Throws
/// std::invalid_argument when order_id or user_id is not a UUID (the event is
/// malformed: it goes to the dead letters rather than being answered).
PlacedOrder ReadPlacedOrder(const boost::json::value& payload);

/// Why an order cannot be reserved, given the stock of those of its products that
/// exist (by id); "" when every product exists with enough stock. Names every
/// product at fault: "unknown product <id>", "insufficient stock for <id>",
/// "invalid quantity for <id>", joined by "; " ("order has no items" for none).
std::string RejectionReason(const std::vector<OrderLine>& lines,
                            const std::map<std::string, std::int64_t>& stock);

/// `lines` as the reservations.items JSON: [{"product_id", "quantity"}], and back
/// (LinesFromJson throws std::invalid_argument on anything else).
std::string LinesToJson(const std::vector<OrderLine>& lines);
std::vector<OrderLine> LinesFromJson(std::string_view json);

}  // namespace keel::catalog
