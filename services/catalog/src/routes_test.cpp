#include <gtest/gtest.h>

#include <keel/testing/openapi.hpp>

#include "routes.hpp"

namespace keel::catalog {
namespace {

TEST(CatalogRoutes, MatchOpenApi) {
    EXPECT_TRUE(testing::MatchesOpenApi(MakeRouter(std::make_shared<CatalogContext>()),
                                        "services/catalog/openapi.yaml"));
}

}  // namespace
}  // namespace keel::catalog
