#include <gtest/gtest.h>

#include "sender.hpp"

namespace keel::notifications {
namespace {

TEST(Sender, BackoffDoublesUpToItsCap) {
    SenderOptions o;
    o.backoff_base = std::chrono::milliseconds(1000);
    o.backoff_max = std::chrono::milliseconds(30'000);
    EXPECT_EQ(Backoff(1, o).count(), 1000);
    EXPECT_EQ(Backoff(2, o).count(), 2000);
    EXPECT_EQ(Backoff(5, o).count(), 16'000);
    EXPECT_EQ(Backoff(6, o).count(), 30'000);
    EXPECT_EQ(Backoff(1000, o).count(), 30'000);
}

}  // namespace
}  // namespace keel::notifications
