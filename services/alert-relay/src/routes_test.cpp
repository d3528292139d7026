// The route without Redis or Telegram: the router against openapi.yaml, its access, and the
// bodies refused before the relay is reached.
#include <gtest/gtest.h>

#include <keel/testing/coro_test.hpp>
#include <keel/testing/openapi.hpp>
#include <keel/testing/routes.hpp>

#include "routes.hpp"

namespace keel::alert_relay {
namespace {

TEST(AlertRelayRoutes, MatchOpenApi) {
    const auto router = MakeRouter(nullptr);
    EXPECT_EQ(testing::RouterOperations(router),
              testing::OpenApiOperations(KEEL_SOURCE_DIR "/services/alert-relay/openapi.yaml"));
}

TEST(AlertRelayRoutes, OnlyServicesMayPost) {
    const auto router = MakeRouter(nullptr);
    ASSERT_EQ(router.Routes().size(), 1u);
    EXPECT_EQ(router.Routes().front().access, http::Access::kService);
}

// The relay is null: a body that reached it would crash the test.
KEEL_CORO_TEST(AlertRelayRoutes, RefusesWhatIsNotAWebhookBeforeTheRelay) {
    const auto router = MakeRouter(nullptr);
    const http::Principal service{"service", "service"};
    const auto not_json = co_await testing::CallRoute(router, http::Verb::post,
                                                      "/internal/alertmanager", "{", service);
    EXPECT_EQ(not_json.status, http::Status::bad_request);
    const auto no_alerts = co_await testing::CallRoute(router, http::Verb::post,
                                                       "/internal/alertmanager", "{}", service);
    EXPECT_EQ(no_alerts.status, http::Status::unprocessable_entity);
    const auto bad_alert = co_await testing::CallRoute(
        router, http::Verb::post, "/internal/alertmanager",
        R"({"alerts":[{"status":"firing","fingerprint":"","startsAt":"2026-11-30T12:00:00Z"}]})",
        service);
    EXPECT_EQ(bad_alert.status, http::Status::unprocessable_entity);
    EXPECT_NE(bad_alert.body.find(R"({"field":"alerts[0].fingerprint")"), std::string::npos)
        << bad_alert.body;
}

}  // namespace
}  // namespace keel::alert_relay
