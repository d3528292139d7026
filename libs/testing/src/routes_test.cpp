#include <keel/testing/coro_test.hpp>
#include <keel/testing/routes.hpp>

namespace keel::testing {
namespace {

// Echoes what the handler saw: the principal, the path parameter, the query and the body.
Task<http::Response> Echo(http::RequestContext& req) {
    co_return http::JsonText(http::Status::ok, req.User()->subject + " " + req.User()->role + " " +
                                                   std::string(req.Param("id")) + " " +
                                                   req.Query("q").value_or("-") + " " +
                                                   req.Req().body());
}

Task<http::Response> Refuse(http::RequestContext&) {
    throw http::HttpError(http::Status::conflict, "taken");
    co_return http::Response{};
}

KEEL_CORO_TEST(CallRoute, CallsTheHandlerAsTheServerWould) {
    http::Router router;
    router.Add(http::Verb::post, "/things/{id}", http::Access::kUser, Echo);
    router.Add(http::Verb::delete_, "/things/{id}", http::Access::kAdmin, Refuse);
    const http::Principal ann{"ann", "user"};
    const auto echoed =
        co_await CallRoute(router, http::Verb::post, "/things/7?q=a%20b", "{}", ann);
    EXPECT_EQ(echoed.status, http::Status::ok);
    EXPECT_EQ(echoed.body, "ann user 7 a b {}");
    const auto refused = co_await CallRoute(router, http::Verb::delete_, "/things/7", "", ann);
    EXPECT_EQ(refused.status, http::Status::conflict);
    EXPECT_NE(refused.body.find("\"detail\":\"taken\""), std::string::npos) << refused.body;
    const auto unknown = co_await CallRoute(router, http::Verb::get, "/nothing", "", ann);
    EXPECT_EQ(unknown.status, http::Status::not_found);
}

}  // namespace
}  // namespace keel::testing
