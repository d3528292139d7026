#include "routes.hpp"

#include <keel/http/json_body.hpp>

namespace keel::release_bot {
namespace {

Task<http::Response> GetLease(std::shared_ptr<Poller> poller, http::RequestContext&) {
    boost::json::object body;
    body["leader"] = poller->Leader();
    co_return http::JsonText(http::Status::ok, http::ToJson(body));
}

}  // namespace

http::Router MakeRouter(std::shared_ptr<Poller> poller) {
    http::Router router;
    router.Add(http::Verb::get, "/internal/lease", http::Access::kService,
               http::Bind(GetLease, std::move(poller)));
    return router;
}

}  // namespace keel::release_bot
