#include "routes.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <keel/http/json_body.hpp>

namespace keel::notifications {
namespace {

using http::RequestContext;
using http::Response;
using http::Status;

constexpr int kMyLimit = 50;

boost::json::object ToJsonObject(const DeliveryView& d) {
    boost::json::object out{{"id", d.id},         {"kind", d.kind}, {"order_id", d.order_id},
                            {"status", d.status}, {"text", d.text}, {"created_at", d.created_at}};
    if (d.sent_at)
        out["sent_at"] = *d.sent_at;
    else
        out["sent_at"] = nullptr;
    return out;
}

Task<Response> Mine(std::shared_ptr<NotificationsContext> ctx, RequestContext& req) {
    const auto deliveries = co_await ctx->log->ForUser(req.User()->subject, kMyLimit);
    boost::json::array items;
    for (const auto& d : deliveries) items.push_back(ToJsonObject(d));
    const boost::json::object body{{"items", std::move(items)}};
    Response r = http::JsonText(Status::ok, http::ToJson(body));
    r.set(http::beast_http::field::cache_control, "no-store");
    co_return r;
}

Task<Response> Stats(std::shared_ptr<NotificationsContext> ctx, RequestContext&) {
    const auto stats = co_await ctx->log->Stats();
    const boost::json::object body{{"sent", stats.sent},
                                   {"pending", stats.pending},
                                   {"failed", stats.failed},
                                   {"skipped", stats.skipped},
                                   {"duplicate_events", stats.duplicate_events}};
    co_return http::JsonText(Status::ok, http::ToJson(body));
}

}  // namespace

http::Router MakeRouter(const std::shared_ptr<NotificationsContext>& ctx) {
    using http::Access;
    using http::Verb;
    http::Router router;
    router.Add(Verb::get, "/api/notifications/me", Access::kUser, http::Bind(Mine, ctx));
    router.Add(Verb::get, "/internal/deliveries/stats", Access::kService, http::Bind(Stats, ctx));
    return router;
}

}  // namespace keel::notifications
