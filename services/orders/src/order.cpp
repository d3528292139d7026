#include "order.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <keel/auth/crypto.hpp>

namespace keel::orders {
namespace json = boost::json;

OrderRequest MakeOrderRequest(std::vector<OrderLine> lines) {
    for (auto& line : lines) {
        auto& id = line.product_id;
        std::transform(id.begin(), id.end(), id.begin(),
                       [](unsigned char c) { return std::tolower(c); });
    }
    std::sort(lines.begin(), lines.end(),
              [](const OrderLine& a, const OrderLine& b) { return a.product_id < b.product_id; });
    std::string canonical;
    for (const auto& line : lines)
        canonical += line.product_id + "x" + std::to_string(line.quantity) + ";";
    return OrderRequest{std::move(lines), auth::Sha256Hex(canonical)};
}

std::vector<std::string> RepeatedProducts(const OrderRequest& request) {
    std::vector<std::string> out;
    const auto& items = request.items;
    for (std::size_t i = 1; i < items.size(); ++i)
        if (items[i].product_id == items[i - 1].product_id &&
            (out.empty() || out.back() != items[i].product_id))
            out.push_back(items[i].product_id);
    return out;
}

Pricing PriceLines(std::vector<OrderLine> lines, const CatalogPrices& prices) {
    Priced out;
    std::string unknown;
    for (auto& line : lines) {
        const auto it = prices.find(line.product_id);
        if (it == prices.end()) {
            unknown += (unknown.empty() ? "" : ", ") + line.product_id;
            continue;
        }
        const auto& price = it->second;
        if (out.currency.empty()) out.currency = price.currency;
        if (out.currency != price.currency)
            return Pricing{std::nullopt, "an order cannot mix currencies (" + out.currency +
                                             " and " + price.currency + ")"};
        line.unit_price = price.price_minor;
        out.total += line.unit_price * line.quantity;
    }
    if (!unknown.empty()) return Pricing{std::nullopt, "no such product: " + unknown};
    out.lines = std::move(lines);
    return Pricing{std::move(out), ""};
}

json::array LinesToJson(const std::vector<OrderLine>& lines) {
    json::array out;
    for (const auto& l : lines)
        out.push_back(json::object{
            {"product_id", l.product_id}, {"quantity", l.quantity}, {"unit_price", l.unit_price}});
    return out;
}

std::vector<OrderLine> LinesFromJson(const json::value& value) {
    std::vector<OrderLine> out;
    try {
        for (const auto& item : value.as_array()) {
            const auto& o = item.as_object();
            out.push_back(OrderLine{std::string(o.at("product_id").as_string()),
                                    o.at("quantity").to_number<std::int64_t>(),
                                    o.at("unit_price").to_number<std::int64_t>()});
        }
    } catch (const std::exception& e) {
        throw std::invalid_argument(std::string("malformed order lines: ") + e.what());
    }
    return out;
}

namespace {

json::value OrNull(const std::optional<std::string>& text) {
    return text ? json::value(*text) : json::value(nullptr);
}

// What every orders event says about the order.
json::object EventBase(const Order& o) {
    return json::object{{"order_id", o.id},
                        {"user_id", o.user_id},
                        {"items", LinesToJson(o.items)},
                        {"total", o.total},
                        {"currency", o.currency}};
}

}  // namespace

json::object ToJson(const Order& o) {
    return json::object{{"id", o.id},
                        {"user_id", o.user_id},
                        {"status", o.status},
                        {"items", LinesToJson(o.items)},
                        {"total", o.total},
                        {"currency", o.currency},
                        {"correlation_id", o.correlation_id},
                        {"created_at", o.created_at},
                        {"updated_at", o.updated_at},
                        {"reason", OrNull(o.reason)},
                        {"payment_id", OrNull(o.payment_id)}};
}

json::value PlacedEvent(const Order& order, std::int64_t placed_at_ms) {
    auto event = EventBase(order);
    event["placed_at"] = placed_at_ms;
    return event;
}

TopicEvent FinalEvent(const Order& order) {
    auto event = EventBase(order);
    if (order.status == "CONFIRMED") {
        event["payment_id"] = order.payment_id.value_or("");
        return TopicEvent{"orders.order_confirmed.v1", std::move(event)};
    }
    if (order.status == "CANCELLED") {
        event["reason"] = order.reason.value_or("");
        return TopicEvent{"orders.order_cancelled.v1", std::move(event)};
    }
    throw std::logic_error("order " + order.id + " is " + order.status + ", not final");
}

}  // namespace keel::orders
