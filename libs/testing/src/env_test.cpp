#include <gtest/gtest.h>

#include <keel/testing/env.hpp>

namespace keel::testing {
namespace {

TEST(EnvFrom, ReadsOnlyTheGivenVariables) {
    auto config = EnvFrom({{"KEEL_TEST_NAME", "ann"}, {"KEEL_TEST_COUNT", "x"}});
    EXPECT_EQ(config.String("KEEL_TEST_NAME"), "ann");
    EXPECT_EQ(config.String("PATH", "unset"), "unset");  // not the process environment
    config.Int("KEEL_TEST_COUNT", 1, 0, 10);
    EXPECT_THROW(config.Finish(), core::ConfigError);
}

}  // namespace
}  // namespace keel::testing
