#include "routes.hpp"

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

Task<Response> Place(std::shared_ptr<OrdersContext> ctx, RequestContext& req) {
    const std::string key = IdempotencyKey(req);
    const OrderRequest request = ReadOrderRequest(req.Req());
    const std::string user_id = req.User()->subject;
    if (auto earlier = co_await ctx->store->FindByKey(user_id, key, request.hash)) {
        Response r = OrderResponse(Status::ok, *earlier);
        r.set("Idempotent-Replayed", "true");
        co_return r;
    }
    const auto priced = co_await ctx->catalog->Price(request.items);
    Order order;
    order.user_id = user_id;
    order.items = priced.lines;
    order.total = priced.total;
    order.currency = priced.currency;
    const auto origin = service::RequestOrigin(*ctx->bus, req);
    auto placed = co_await ctx->store->Place(std::move(order), key, request.hash, origin);
    Response r = OrderResponse(placed.replayed ? Status::ok : Status::created, placed.order);
    if (placed.replayed) r.set("Idempotent-Replayed", "true");
    co_return r;
}

Task<Response> Get(std::shared_ptr<OrdersContext> ctx, RequestContext& req) {
    const std::string id(req.Param("id"));
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

http::Router MakeRouter(std::shared_ptr<OrdersContext> ctx) {
    using http::Access;
    using http::Verb;
    http::Router router;
    router.Add(Verb::post, "/api/orders", Access::kUser, http::Bind(Place, ctx));
    router.Add(Verb::get, "/api/orders", Access::kUser, http::Bind(ListMine, ctx));
    router.Add(Verb::get, "/api/orders/{id}", Access::kUser, http::Bind(Get, ctx));
    return router;
}

void SubscribeSaga(bus::Bus& bus, std::shared_ptr<OrderStore> store) {
    bus.Publishes("orders.order_placed.v1");
    bus.Publishes("orders.order_confirmed.v1");
    bus.Publishes("orders.order_cancelled.v1");
    bus.Subscribe("payments.payment_captured.v1",
                  bus::EventHandler([store](pg::Connection& c, const bus::Event& e) {
                      return store->Confirm(c, e);
                  }));
    bus.Subscribe("catalog.stock_rejected.v1",
                  bus::EventHandler([store](pg::Connection& c, const bus::Event& e) {
                      return store->Cancel(
                          c, e, "stock: " + std::string(e.payload.at("reason").as_string()));
                  }));
    bus.Subscribe("payments.payment_declined.v1",
                  bus::EventHandler([store](pg::Connection& c, const bus::Event& e) {
                      return store->Cancel(
                          c, e, "payment: " + std::string(e.payload.at("reason").as_string()));
                  }));
}

}  // namespace keel::orders
