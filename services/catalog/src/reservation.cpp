#include "reservation.hpp"

#include <algorithm>
#include <stdexcept>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <keel/core/uuid.hpp>

namespace keel::catalog {
namespace json = boost::json;

namespace {

std::string Text(const json::value& object, std::string_view key) {
    const auto& s = object.at(key).as_string();
    return std::string(s.data(), s.size());
}

std::string RequireUuid(const json::value& object, std::string_view key) {
    auto text = Text(object, key);
    if (!Uuid::Parse(text))
        throw std::invalid_argument(std::string(key) + " is not a UUID: " + text);
    return text;
}

// Lower-case, so that one product spelled twice is one line and matches uuid::text.
std::string NormalProductId(std::string text) {
    if (auto id = Uuid::Parse(text)) return id->ToString();
    return text;
}

std::vector<OrderLine> MergeLines(std::vector<OrderLine> lines) {
    std::sort(lines.begin(), lines.end(),
              [](const OrderLine& a, const OrderLine& b) { return a.product_id < b.product_id; });
    std::vector<OrderLine> merged;
    for (auto& line : lines) {
        if (merged.empty() || merged.back().product_id != line.product_id) {
            merged.push_back(std::move(line));
            continue;
        }
        auto& quantity = merged.back().quantity;
        // A line without a positive quantity keeps the product invalid, whatever the others say.
        if (quantity < 1 || line.quantity < 1)
            quantity = std::min({quantity, line.quantity, std::int64_t{0}});
        else
            quantity += line.quantity;
    }
    return merged;
}

}  // namespace

PlacedOrder ReadPlacedOrder(const json::value& payload) {
    PlacedOrder order;
    order.order_id = RequireUuid(payload, "order_id");
    order.user_id = RequireUuid(payload, "user_id");
    order.total = payload.at("total").to_number<std::int64_t>();
    order.currency = Text(payload, "currency");
    std::vector<OrderLine> lines;
    for (const auto& item : payload.at("items").as_array()) {
        // Avro int: a quantity always fits; the sum of 2^31 of them cannot overflow.
        lines.push_back(OrderLine{NormalProductId(Text(item, "product_id")),
                                  item.at("quantity").to_number<std::int64_t>()});
    }
    order.lines = MergeLines(std::move(lines));
    return order;
}

std::string RejectionReason(const std::vector<OrderLine>& lines,
                            const std::map<std::string, std::int64_t>& stock) {
    if (lines.empty()) return "order has no items";
    std::string reason;
    auto add = [&reason](const std::string& problem) {
        if (!reason.empty()) reason += "; ";
        reason += problem;
    };
    for (const auto& line : lines) {
        const auto found = stock.find(line.product_id);
        if (found == stock.end())
            add("unknown product " + line.product_id);
        else if (line.quantity < 1)
            add("invalid quantity for " + line.product_id);
        else if (found->second < line.quantity)
            add("insufficient stock for " + line.product_id);
    }
    return reason;
}

std::string LinesToJson(const std::vector<OrderLine>& lines) {
    json::array items;
    for (const auto& line : lines) {
        json::object item;
        item["product_id"] = line.product_id;
        item["quantity"] = line.quantity;
        items.push_back(std::move(item));
    }
    return json::serialize(items);
}

std::vector<OrderLine> LinesFromJson(std::string_view text) {
    try {
        const json::value parsed = json::parse(text);
        std::vector<OrderLine> lines;
        for (const auto& item : parsed.as_array())
            lines.push_back(
                OrderLine{Text(item, "product_id"), item.at("quantity").to_number<std::int64_t>()});
        return lines;
    } catch (const std::exception& e) {
        throw std::invalid_argument(std::string("reservation items are malformed: ") + e.what());
    }
}

}  // namespace keel::catalog
