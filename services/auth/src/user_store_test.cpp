#include <gtest/gtest.h>

#include "user_store.hpp"

namespace keel::auth_service {
namespace {

TEST(Email, NormalisesAndRejects) {
    EXPECT_EQ(NormalizeEmail("Ann.Lee@Example.COM"), "ann.lee@example.com");
    for (const char* bad : {"", "a", "@x.io", "a@", "a@b", "a@@b.io", "a b@c.io", "a@.io", "a@io.",
                            "'; DROP--@x.io\"", "x@y.io\n"}) {
        EXPECT_FALSE(NormalizeEmail(bad)) << bad;
    }
}

}  // namespace
}  // namespace keel::auth_service
