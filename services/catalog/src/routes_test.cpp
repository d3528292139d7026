#include <gtest/gtest.h>

#include <keel/testing/openapi.hpp>

#include "product_store.hpp"
#include "routes.hpp"

namespace keel::catalog {
namespace {

TEST(CatalogRoutes, MatchOpenApi) {
    const auto router = MakeRouter(std::make_shared<CatalogContext>());
    EXPECT_EQ(testing::RouterOperations(router),
              testing::OpenApiOperations(KEEL_SOURCE_DIR "/services/catalog/openapi.yaml"));
}

TEST(Search, EscapesLikeWildcards) {
    EXPECT_EQ(EscapeLike("50%_off\\"), "50\\%\\_off\\\\");
    EXPECT_EQ(EscapeLike("plain"), "plain");
}

}  // namespace
}  // namespace keel::catalog
