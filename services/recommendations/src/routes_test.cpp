#include <gtest/gtest.h>

#include <keel/testing/openapi.hpp>

#include "routes.hpp"

namespace keel::recommendations {
namespace {

TEST(RecommendationsRoutes, MatchOpenApi) {
    EXPECT_TRUE(testing::MatchesOpenApi(MakeRouter(std::make_shared<RecommendationsContext>()),
                                        "services/recommendations/openapi.yaml"));
}

}  // namespace
}  // namespace keel::recommendations
