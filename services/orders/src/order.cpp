#include "order.hpp"

#include <algorithm>
#include <stdexcept>

#include <keel/auth/crypto.hpp>
#include <keel/core/uuid.hpp>
#include <keel/http/json_body.hpp>

namespace keel::orders {

constexpr std::size_t kMaxLines = 50;
constexpr std::int64_t kMaxQuantity = 1000;

OrderRequest ReadOrderRequest(const http::Request& request) {
    const auto object = http::ParseJsonObject(request);
    http::ObjectReader reader(object);
    const auto* items = reader.Raw("items");
    OrderRequest out;
    if (items == nullptr) {
        reader.AddProblem("items", "is required");
    } else if (!items->is_array() || items->as_array().empty() ||
               items->as_array().size() > kMaxLines) {
        reader.AddProblem("items",
                          "must be an array of 1 to " + std::to_string(kMaxLines) + " lines");
    } else {
        std::size_t i = 0;
        for (const auto& item : items->as_array()) {
            const std::string field = "items[" + std::to_string(i++) + "]";
            if (!item.is_object()) {
                reader.AddProblem(field, "must be an object {product_id, quantity}");
                continue;
            }
            http::ObjectReader line(item.as_object());
            auto product = line.String("product_id", true, 36, 36);
            auto quantity = line.Int("quantity", true, 1, kMaxQuantity);
            try {
                line.Finish();
            } catch (const http::HttpError&) {
                reader.AddProblem(field, "needs product_id (a UUID) and quantity (1 to " +
                                             std::to_string(kMaxQuantity) + "), nothing else");
                continue;
            }
            if (!Uuid::Parse(*product)) {
                reader.AddProblem(field + ".product_id", "is not a UUID");
                continue;
            }
            std::string id = *product;
            std::transform(id.begin(), id.end(), id.begin(),
                           [](unsigned char c) { return std::tolower(c); });
            out.items.push_back(OrderLine{id, *quantity, 0});
        }
        std::sort(out.items.begin(), out.items.end(), [](const OrderLine& a, const OrderLine& b) {
            return a.product_id < b.product_id;
        });
        for (std::size_t j = 1; j < out.items.size(); ++j)
            if (out.items[j].product_id == out.items[j - 1].product_id)
                reader.AddProblem("items", "lists product " + out.items[j].product_id + " twice");
    }
    reader.Finish();
    std::string canonical;
    for (const auto& line : out.items)
        canonical += line.product_id + "x" + std::to_string(line.quantity) + ";";
    out.hash = auth::Sha256Hex(canonical);
    return out;
}

boost::json::array LinesToJson(const std::vector<OrderLine>& lines) {
    boost::json::array out;
    for (const auto& l : lines)
        out.push_back(boost::json::object{
            {"product_id", l.product_id}, {"quantity", l.quantity}, {"unit_price", l.unit_price}});
    return out;
}

std::vector<OrderLine> LinesFromJson(const boost::json::value& value) {
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

boost::json::object ToJson(const Order& o) {
    boost::json::object out{{"id", o.id},
                            {"user_id", o.user_id},
                            {"status", o.status},
                            {"items", LinesToJson(o.items)},
                            {"total", o.total},
                            {"currency", o.currency},
                            {"correlation_id", o.correlation_id},
                            {"created_at", o.created_at},
                            {"updated_at", o.updated_at}};
    out["reason"] = o.reason ? boost::json::value(*o.reason) : boost::json::value(nullptr);
    out["payment_id"] =
        o.payment_id ? boost::json::value(*o.payment_id) : boost::json::value(nullptr);
    return out;
}

}  // namespace keel::orders
