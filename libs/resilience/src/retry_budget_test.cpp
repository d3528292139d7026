#include <keel/resilience/retry_budget.hpp>

#include <gtest/gtest.h>

namespace keel::resilience {
namespace {

using namespace std::chrono_literals;

int RetriesAllowed(RetryBudget& budget) {
    int n = 0;
    while (n < 100000 && budget.TryRetry()) ++n;
    return n;
}

TEST(RetryBudget, RetriesAreATenthOfRequests) {
    auto clock = std::make_shared<ManualClock>();
    RetryBudget budget(RetryBudgetOptions{0.1, 0, 10s}, clock);
    for (int i = 0; i < 200; ++i) budget.OnRequest();
    EXPECT_EQ(RetriesAllowed(budget), 20);
    for (int i = 0; i < 10; ++i) budget.OnRequest();
    EXPECT_EQ(RetriesAllowed(budget), 1);
}

TEST(RetryBudget, TheFloorAllowsRetriesWithLittleTraffic) {
    auto clock = std::make_shared<ManualClock>();
    RetryBudget budget(RetryBudgetOptions{0.1, 2, 10s}, clock);
    budget.OnRequest();
    EXPECT_EQ(RetriesAllowed(budget), 20);  // 2/s over 10 s; 0.1 of one request adds nothing
}

TEST(RetryBudget, OldRequestsAndRetriesLeaveTheWindow) {
    auto clock = std::make_shared<ManualClock>();
    RetryBudget budget(RetryBudgetOptions{0.1, 0, 10s}, clock);
    for (int i = 0; i < 100; ++i) budget.OnRequest();
    EXPECT_EQ(RetriesAllowed(budget), 10);
    clock->Advance(5s);
    for (int i = 0; i < 100; ++i) budget.OnRequest();
    EXPECT_EQ(RetriesAllowed(budget), 10);
    clock->Advance(6s);  // the first 100 requests and their 10 retries are gone
    EXPECT_EQ(RetriesAllowed(budget), 0);
    clock->Advance(5s);
    for (int i = 0; i < 50; ++i) budget.OnRequest();
    EXPECT_EQ(RetriesAllowed(budget), 5);
}

}  // namespace
}  // namespace keel::resilience
