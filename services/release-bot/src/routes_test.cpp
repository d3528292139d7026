#include <gtest/gtest.h>

#include <keel/testing/openapi.hpp>

#include "routes.hpp"

namespace keel::release_bot {
namespace {

TEST(Routes, MatchOpenApi) {
    EXPECT_TRUE(testing::MatchesOpenApi(MakeRouter(nullptr), "services/release-bot/openapi.yaml"));
}

}  // namespace
}  // namespace keel::release_bot
