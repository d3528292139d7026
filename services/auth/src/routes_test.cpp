#include <gtest/gtest.h>

#include <keel/testing/openapi.hpp>

#include "routes.hpp"

namespace keel::auth_service {
namespace {

TEST(AuthRoutes, MatchOpenApi) {
    EXPECT_TRUE(testing::MatchesOpenApi(MakeRouter(std::make_shared<AuthContext>()),
                                        "services/auth/openapi.yaml"));
}

}  // namespace
}  // namespace keel::auth_service
