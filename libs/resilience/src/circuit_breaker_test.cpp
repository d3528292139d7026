#include <keel/resilience/circuit_breaker.hpp>

#include <gtest/gtest.h>

#include <vector>

namespace keel::resilience {
namespace {

using namespace std::chrono_literals;

struct BreakerFixture {
    explicit BreakerFixture(BreakerOptions options = {})
        : clock(std::make_shared<ManualClock>()), breaker(options, clock) {
        breaker.OnTransition([this](const BreakerTransition& t) {
            transitions.push_back(t.to);
            reasons.emplace_back(t.reason);
        });
    }
    void Call(bool success, std::chrono::nanoseconds latency = 1ms) {
        auto permit = breaker.TryAcquire();
        ASSERT_TRUE(permit.has_value());
        permit->Record(latency, success);
    }
    std::shared_ptr<ManualClock> clock;
    CircuitBreaker breaker;
    std::vector<BreakerState> transitions;
    std::vector<std::string> reasons;
};

TEST(CircuitBreaker, OpensAfterConsecutiveFailures) {
    BreakerFixture f;
    for (int i = 0; i < 4; ++i) f.Call(false);
    EXPECT_EQ(f.breaker.State(), BreakerState::kClosed);
    f.Call(false);
    EXPECT_EQ(f.breaker.State(), BreakerState::kOpen);
    EXPECT_FALSE(f.breaker.TryAcquire().has_value());
    EXPECT_EQ(f.breaker.RetryAfter(), 5s);
    EXPECT_EQ(f.breaker.OpenReason(), "after 5 consecutive failures");
    f.clock->Advance(1s);
    EXPECT_EQ(f.breaker.RetryAfter(), 4s);
}

TEST(CircuitBreaker, ADisabledBreakerNeverOpens) {
    BreakerOptions options;
    options.enabled = false;
    BreakerFixture f(options);
    for (int i = 0; i < 100; ++i) f.Call(false);
    EXPECT_EQ(f.breaker.State(), BreakerState::kClosed);
    EXPECT_TRUE(f.transitions.empty());
}

TEST(CircuitBreaker, SuccessResetsTheConsecutiveCount) {
    BreakerFixture f;
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 4; ++i) f.Call(false);
        f.Call(true);
    }
    // 12 of 15 failed, but never 5 in a row and fewer than min_calls (20).
    EXPECT_EQ(f.breaker.State(), BreakerState::kClosed);
}

TEST(CircuitBreaker, OpensOnFailureRateOnceMinCallsSeen) {
    BreakerOptions options;
    options.consecutive_failures = 0;
    BreakerFixture f(options);
    for (int i = 0; i < 19; ++i) f.Call(i % 2 == 0);  // 10 ok, 9 failed
    EXPECT_EQ(f.breaker.State(), BreakerState::kClosed);
    f.Call(false);  // 10 of 20: 50%
    EXPECT_EQ(f.breaker.State(), BreakerState::kOpen);
    EXPECT_EQ(f.breaker.OpenReason(), "at a failure rate of 50% over 20 calls");
}

TEST(CircuitBreaker, FailuresOutsideTheWindowDoNotCount) {
    BreakerOptions options;
    options.consecutive_failures = 0;
    BreakerFixture f(options);
    for (int i = 0; i < 15; ++i) f.Call(false);
    f.clock->Advance(11s);
    for (int i = 0; i < 15; ++i) f.Call(true);
    for (int i = 0; i < 5; ++i) f.Call(false);
    // 20 calls in the window, 5 failed.
    EXPECT_EQ(f.breaker.State(), BreakerState::kClosed);
}

TEST(CircuitBreaker, SlowCallsAreFailures) {
    BreakerFixture f;
    for (int i = 0; i < 4; ++i) f.Call(true, 1500ms);
    EXPECT_EQ(f.breaker.State(), BreakerState::kClosed);
    f.Call(true, 1s);
    EXPECT_EQ(f.breaker.State(), BreakerState::kOpen);
}

TEST(CircuitBreaker, HalfOpenAdmitsProbesAndClosesWhenTheySucceed) {
    BreakerFixture f;
    for (int i = 0; i < 5; ++i) f.Call(false);
    f.clock->Advance(4999ms);
    EXPECT_FALSE(f.breaker.TryAcquire().has_value());
    f.clock->Advance(1ms);
    auto first = f.breaker.TryAcquire();
    auto second = f.breaker.TryAcquire();
    ASSERT_TRUE(first && second);
    EXPECT_EQ(f.breaker.State(), BreakerState::kHalfOpen);
    EXPECT_FALSE(f.breaker.TryAcquire().has_value()) << "only half_open_probes (2) go through";
    first->Record(1ms, true);
    EXPECT_EQ(f.breaker.State(), BreakerState::kHalfOpen);
    second->Record(1ms, true);
    EXPECT_EQ(f.breaker.State(), BreakerState::kClosed);
    EXPECT_TRUE(f.breaker.TryAcquire().has_value());
    const std::vector<BreakerState> expected = {BreakerState::kOpen, BreakerState::kHalfOpen,
                                                BreakerState::kClosed};
    EXPECT_EQ(f.transitions, expected);
    EXPECT_EQ(f.reasons.back(), "probes succeeded");
}

TEST(CircuitBreaker, AFailedProbeReopensForTwiceAsLongUpToTheCap) {
    BreakerOptions options;
    options.max_open_for = 15s;
    BreakerFixture f(options);
    for (int i = 0; i < 5; ++i) f.Call(false);
    f.clock->Advance(5s);
    f.Call(false);
    EXPECT_EQ(f.breaker.State(), BreakerState::kOpen);
    EXPECT_EQ(f.breaker.RetryAfter(), 10s);
    EXPECT_EQ(f.breaker.OpenReason(), "after a failed probe");
    f.clock->Advance(10s);
    f.Call(false);
    EXPECT_EQ(f.breaker.RetryAfter(), 15s) << "capped at max_open_for";
    f.clock->Advance(15s);
    f.Call(true);
    f.Call(true);
    EXPECT_EQ(f.breaker.State(), BreakerState::kClosed);
    for (int i = 0; i < 5; ++i) f.Call(false);
    EXPECT_EQ(f.breaker.RetryAfter(), 5s) << "closing resets the open time";
}

TEST(CircuitBreaker, AnAbandonedProbeFreesItsSlot) {
    BreakerOptions options;
    options.half_open_probes = 1;
    BreakerFixture f(options);
    for (int i = 0; i < 5; ++i) f.Call(false);
    f.clock->Advance(5s);
    { auto probe = f.breaker.TryAcquire(); }
    auto probe = f.breaker.TryAcquire();
    ASSERT_TRUE(probe.has_value());
    probe->Record(1ms, true);
    EXPECT_EQ(f.breaker.State(), BreakerState::kClosed);
}

TEST(CircuitBreaker, ResultsOfCallsStartedBeforeAChangeAreIgnored) {
    BreakerFixture f;
    auto old = f.breaker.TryAcquire();
    for (int i = 0; i < 5; ++i) f.Call(false);
    f.clock->Advance(5s);
    auto probe = f.breaker.TryAcquire();
    old->Record(1ms, false);  // from the closed period: must not reopen it
    EXPECT_EQ(f.breaker.State(), BreakerState::kHalfOpen);
    probe->Record(1ms, true);
}

}  // namespace
}  // namespace keel::resilience
