#include "routes.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <keel/http/json_body.hpp>

namespace keel::alert_relay {
namespace {

namespace json = boost::json;
using http::HttpError;
using http::RequestContext;
using http::Response;
using http::Status;

// 422 listing every problem, in the shape ObjectReader gives.
[[noreturn]] void ThrowProblems(const std::vector<std::pair<std::string, std::string>>& problems) {
    json::array errors;
    for (const auto& problem : problems)
        errors.push_back(json::object{{"field", problem.first}, {"problem", problem.second}});
    const json::value extra = json::object{{"errors", std::move(errors)}};
    auto members = http::ToJson(extra);
    // ToJson gives {"errors":[...]}: the problem's extra members go in without the braces.
    throw HttpError(Status::unprocessable_entity, "the body is not an Alertmanager webhook",
                    members.substr(1, members.size() - 2));
}

Task<Response> ReceiveAlerts(std::shared_ptr<Relay> relay, RequestContext& req) {
    const auto body = http::ParseJsonObject(req.Req());
    auto parsed = ParseWebhook(body);
    if (!parsed.problems.empty()) ThrowProblems(parsed.problems);
    const auto report = co_await relay->Deliver(std::move(parsed.webhook));
    if (!report.failure.empty()) {
        // 5xx: Alertmanager sends the whole group again; what went out is deduplicated.
        throw HttpError(Status::service_unavailable, report.failure)
            .WithRetryAfter(report.retry_after);
    }
    const json::value answer = json::object{{"received", report.received},
                                            {"sent", report.sent},
                                            {"deduplicated", report.deduplicated},
                                            {"throttled", report.throttled}};
    co_return http::JsonText(Status::ok, http::ToJson(answer));
}

}  // namespace

http::Router MakeRouter(std::shared_ptr<Relay> relay) {
    http::Router router;
    router.Add(http::Verb::post, "/internal/alertmanager", http::Access::kService,
               http::Bind(ReceiveAlerts, std::move(relay)));
    return router;
}

}  // namespace keel::alert_relay
