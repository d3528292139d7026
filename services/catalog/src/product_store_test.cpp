#include <gtest/gtest.h>

#include "product_store.hpp"

namespace keel::catalog {
namespace {

TEST(Search, EscapesLikeWildcards) {
    EXPECT_EQ(EscapeLike("50%_off\\"), "50\\%\\_off\\\\");
    EXPECT_EQ(EscapeLike("plain"), "plain");
}

}  // namespace
}  // namespace keel::catalog
