#include <gtest/gtest.h>

#include <keel/testing/openapi.hpp>

#include "routes.hpp"

namespace keel::notifications {
namespace {

TEST(NotificationsRoutes, MatchOpenApi) {
    EXPECT_TRUE(testing::MatchesOpenApi(MakeRouter(std::make_shared<NotificationsContext>()),
                                        "services/notifications/openapi.yaml"));
}

}  // namespace
}  // namespace keel::notifications
