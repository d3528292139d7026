#include "routes.hpp"

#include <stdexcept>

#include <boost/json/array.hpp>

#include <keel/core/uuid.hpp>
#include <keel/http/json_body.hpp>
#include <keel/service/app.hpp>

namespace keel::orders {
namespace {

using http::HttpError;
using http::RequestContext;
using http::Response;
using http::Status;

// One element of `items`; nullopt (with the problem noted in `reader`) when malformed.
std::optional<OrderLine> ReadLine(const boost::json::value& item, const std::string& field,
                                  http::ObjectReader& reader) {
    if (!item.is_object()) {
        reader.AddProblem(field, "must be an object {product_id, quantity}");
        return std::nullopt;
    }
    http::ObjectReader line(item.as_object());
    auto product = line.String("product_id", true, 36, 36);
    auto quantity = line.Int("quantity", true, 1, kMaxQuantity);
    try {
        line.Finish();
    } catch (const HttpError&) {
        reader.AddProblem(field, "needs product_id (a UUID) and quantity (1 to " +
                                     std::to_string(kMaxQuantity) + "), nothing else");
        return std::nullopt;
    }
    if (!Uuid::Parse(*product)) {
        reader.AddProblem(field + ".product_id", "is not a UUID");
        return std::nullopt;
    }
    return OrderLine{*product, *quantity, 0};
}

std::vector<OrderLine> ReadLines(const boost::json::value* items, http::ObjectReader& reader) {
    std::vector<OrderLine> lines;
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
            if (auto line = ReadLine(item, field, reader)) lines.push_back(std::move(*line));
        }
    }
    return lines;
}

std::string IdempotencyKey(const RequestContext& req) {
    const auto it = req.Req().find("Idempotency-Key");
    if (it == req.Req().end())
        throw HttpError(Status::bad_request,
                        "the Idempotency-Key header is required (any unique string per order, "
                        "reused when the same request is retried)");
    const std::string key(it->value());
    if (key.empty() || key.size() > 128)
        throw HttpError(Status::bad_request, "Idempotency-Key must be 1 to 128 characters");
    for (const unsigned char c : key)
        if (c < 0x21 || c > 0x7e)
            throw HttpError(Status::bad_request, "Idempotency-Key must be printable ASCII");
    return key;
}

Response OrderResponse(Status status, const Order& order) {
    Response r = http::JsonText(status, http::ToJson(ToJson(order)));
    r.set(http::beast_http::field::location, "/api/orders/" + order.id);
    return r;
}

}  // namespace

OrderRequest ReadOrderRequest(const http::Request& request) {
    const auto object = http::ParseJsonObject(request);
    http::ObjectReader reader(object);
    auto out = MakeOrderRequest(ReadLines(reader.Raw("items"), reader));
    for (const auto& product : RepeatedProducts(out))
        reader.AddProblem("items", "lists product " + product + " twice");
    reader.Finish();
    return out;
}

Response PlacementResponse(const Placement& placement) {
    switch (placement.outcome) {
        case PlaceOutcome::kPlaced:
            return OrderResponse(Status::created, *placement.order);
        case PlaceOutcome::kReplayed: {
            Response r = OrderResponse(Status::ok, *placement.order);
            r.set("Idempotent-Replayed", "true");
            return r;
        }
        case PlaceOutcome::kKeyReused:
            throw HttpError(Status::conflict,
                            "this Idempotency-Key was already used with a different order body");
        case PlaceOutcome::kKeyInProgress:
            throw HttpError(Status::conflict, "a request with this Idempotency-Key is in progress");
    }
    throw std::logic_error("unknown placement outcome");
}

namespace {

Task<Response> Place(std::shared_ptr<OrdersContext> ctx, RequestContext& req) {
    std::string key = IdempotencyKey(req);
    const OrderRequest request = ReadOrderRequest(req.Req());
    std::string user_id = req.User()->subject;
    if (auto earlier = co_await ctx->store->FindByKey(user_id, key, request.hash))
        co_return PlacementResponse(*earlier);
    auto pricing = co_await ctx->catalog->Price(request.items, req.Deadline());
    if (!pricing.priced) throw HttpError(Status::unprocessable_entity, pricing.problem);
    Order order;
    order.user_id = std::move(user_id);
    order.items = std::move(pricing.priced->lines);
    order.total = pricing.priced->total;
    order.currency = std::move(pricing.priced->currency);
    auto origin = service::RequestOrigin(*ctx->bus, req);
    const auto placement = co_await ctx->store->Place(std::move(order), std::move(key),
                                                      request.hash, std::move(origin));
    co_return PlacementResponse(placement);
}

Task<Response> Get(std::shared_ptr<OrdersContext> ctx, RequestContext& req) {
    std::string id(req.Param("id"));
    if (!Uuid::Parse(id)) throw HttpError(Status::bad_request, "order id must be a UUID");
    auto order = co_await ctx->store->Get(id);
    // Someone else's order is "not found" too: ids are not secrets, but existence is.
    if (!order || (order->user_id != req.User()->subject && req.User()->role != "admin"))
        throw HttpError(Status::not_found, "no order with id " + id);
    co_return http::JsonText(Status::ok, http::ToJson(ToJson(*order)));
}

Task<Response> ListMine(std::shared_ptr<OrdersContext> ctx, RequestContext& req) {
    const int limit = req.QueryInt("limit", 20, 1, 100);
    boost::json::array items;
    for (const auto& order : co_await ctx->store->ListByUser(req.User()->subject, limit))
        items.push_back(ToJson(order));
    co_return http::JsonText(Status::ok,
                             http::ToJson(boost::json::object{{"items", std::move(items)}}));
}

}  // namespace

http::Router MakeRouter(const std::shared_ptr<OrdersContext>& ctx) {
    using http::Access;
    using http::Verb;
    http::Router router;
    router.Add(Verb::post, "/api/orders", Access::kUser, http::Bind(Place, ctx));
    router.Add(Verb::get, "/api/orders", Access::kUser, http::Bind(ListMine, ctx));
    router.Add(Verb::get, "/api/orders/{id}", Access::kUser, http::Bind(Get, ctx));
    return router;
}

}  // namespace keel::orders
