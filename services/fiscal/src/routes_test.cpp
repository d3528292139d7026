#include <gtest/gtest.h>

#include <keel/testing/openapi.hpp>

#include "routes.hpp"

namespace keel::fiscal {
namespace {

TEST(FiscalRoutes, MatchOpenApi) {
    EXPECT_TRUE(testing::MatchesOpenApi(MakeRouter(std::make_shared<FiscalContext>()),
                                        "services/fiscal/openapi.yaml"));
}

}  // namespace
}  // namespace keel::fiscal
