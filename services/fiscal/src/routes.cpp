#include "routes.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <keel/core/uuid.hpp>
#include <keel/http/json_body.hpp>

namespace keel::fiscal {
namespace {

using http::HttpError;
using http::RequestContext;
using http::Response;
using http::Status;

constexpr int kLimit = 50;

// Admins see anyone's receipts; users their own (the token's subject, a UUID).
std::optional<std::string> Owner(const RequestContext& req) {
    const auto* user = req.User();
    if (user->role == "admin") return std::nullopt;
    if (!Uuid::Parse(user->subject))
        throw HttpError(Status::forbidden, "token subject is not a user id");
    return user->subject;
}

std::optional<std::string> ReadOrderId(const RequestContext& req) {
    auto order_id = req.Query("order_id");
    if (order_id && !Uuid::Parse(*order_id))
        throw HttpError(Status::bad_request, "order_id must be a UUID");
    return order_id;
}

Task<Response> ListReceipts(std::shared_ptr<FiscalContext> ctx, RequestContext& req) {
    const auto owner = Owner(req);
    const auto order_id = ReadOrderId(req);
    const auto receipts = co_await ctx->receipts->List(owner, order_id, kLimit);
    boost::json::array items;
    for (const auto& r : receipts) items.push_back(ToJsonObject(r));
    const boost::json::object body{{"items", std::move(items)}};
    co_return http::JsonText(Status::ok, http::ToJson(body));
}

Task<Response> Stats(std::shared_ptr<FiscalContext> ctx, RequestContext&) {
    const auto stats = co_await ctx->receipts->Count();
    const boost::json::object body{{"receipts", stats.receipts},
                                   {"distinct_orders", stats.distinct_orders},
                                   {"refunds", stats.refunds},
                                   {"refunded_orders", stats.refunded_orders}};
    co_return http::JsonText(Status::ok, http::ToJson(body));
}

}  // namespace

http::Router MakeRouter(const std::shared_ptr<FiscalContext>& ctx) {
    using http::Access;
    using http::Verb;
    http::Router router;
    router.Add(Verb::get, "/api/fiscal/receipts", Access::kUser, http::Bind(ListReceipts, ctx));
    router.Add(Verb::get, "/internal/receipts/stats", Access::kService, http::Bind(Stats, ctx));
    return router;
}

}  // namespace keel::fiscal
