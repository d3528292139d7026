#include <keel/testing/routes.hpp>

namespace keel::testing {

Task<RouteReply> CallRoute(const http::Router& router, http::Verb verb, std::string target,
                           std::string body, http::Principal principal) {
    http::Request request{verb, target, 11};
    if (!body.empty()) {
        request.set(http::beast_http::field::content_type, "application/json");
        request.body() = std::move(body);
        request.prepare_payload();
    }
    const std::string path = target.substr(0, target.find('?'));
    std::vector<std::pair<std::string_view, std::string_view>> params;
    const auto match = router.Find(verb, path, params);
    RouteReply reply;
    if (!match.route) {
        reply.status = http::Status::not_found;
        co_return reply;
    }
    http::RequestContext ctx(request, "test-request", "127.0.0.1");
    ctx.SetParamsForRouter(std::move(params));
    ctx.SetPrincipal(std::move(principal));
    try {
        auto response = co_await match.route->handler(ctx);
        reply.status = response.result();
        reply.body = std::move(response.body());
    } catch (const http::HttpError& e) {
        reply.status = e.GetStatus();
        reply.body = http::Problem(e.GetStatus(), e.Detail(), e.ExtraMembers()).body();
    }
    co_return reply;
}

}  // namespace keel::testing
