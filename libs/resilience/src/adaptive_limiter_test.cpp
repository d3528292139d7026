#include <keel/resilience/adaptive_limiter.hpp>

#include <gtest/gtest.h>

namespace keel::resilience {
namespace {

using namespace std::chrono_literals;

struct LimiterFixture {
    explicit LimiterFixture(LimiterOptions options = {})
        : clock(std::make_shared<ManualClock>()), limiter(options, clock) {}

    // One window in which the server runs `load` requests at once (all of its limit by
    // default), each taking `rtt`.
    void Window(std::chrono::nanoseconds rtt, std::size_t load = 0) {
        const std::size_t n = load ? load : limiter.Limit();
        std::size_t admitted = 0;
        for (std::size_t i = 0; i < n; ++i) admitted += limiter.TryAcquire(0ns) ? 1 : 0;
        clock->Advance(100ms);
        for (std::size_t i = 0; i < admitted; ++i) limiter.Release(rtt, true);
    }
    void Windows(int count, std::chrono::nanoseconds rtt, std::size_t load = 0) {
        for (int i = 0; i < count; ++i) Window(rtt, load);
    }

    std::shared_ptr<ManualClock> clock;
    AdaptiveLimiter limiter;
};

TEST(AdaptiveLimiter, ShedsWhenInFlightReachesTheLimit) {
    LimiterFixture f(LimiterOptions{.min_limit = 2, .initial_limit = 10});
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(f.limiter.TryAcquire(0ns));
    EXPECT_FALSE(f.limiter.TryAcquire(0ns));
    EXPECT_EQ(f.limiter.InFlight(), 10u);
    f.limiter.Release(1ms, false);
    EXPECT_TRUE(f.limiter.TryAcquire(0ns));
    EXPECT_FALSE(f.limiter.TryAcquire(0ns));
}

TEST(AdaptiveLimiter, FallsWhenLatencyRisesAndRecoversWhenItReturns) {
    LimiterFixture f;
    f.Windows(50, 10ms);
    const std::size_t before = f.limiter.Limit();
    EXPECT_GT(before, 64u) << "flat latency at full use lets the limit grow";
    const double long_rtt_ms =
        std::chrono::duration<double, std::milli>(f.limiter.LongRtt()).count();
    EXPECT_NEAR(long_rtt_ms, 10, 0.5);

    f.Windows(10, 40ms);
    const std::size_t during = f.limiter.Limit();
    EXPECT_LT(during, before / 2) << "queueing (4x the RTT) must cut the limit";
    f.Windows(50, 40ms);
    EXPECT_LE(f.limiter.Limit(), 9u) << "and keep it near min_limit (8) while it lasts";

    f.Windows(100, 10ms);
    EXPECT_GE(f.limiter.Limit(), 64u) << "the limit comes back once latency is normal";
}

TEST(AdaptiveLimiter, StaysWithinItsBounds) {
    LimiterFixture f(LimiterOptions{.min_limit = 12, .max_limit = 80, .initial_limit = 64});
    f.Windows(300, 5ms);
    EXPECT_EQ(f.limiter.Limit(), 80u);
    f.Windows(100, 5s);
    EXPECT_EQ(f.limiter.Limit(), 12u);
}

TEST(AdaptiveLimiter, DoesNotGrowWhileMostOfTheLimitIsUnused) {
    LimiterFixture f;
    f.Windows(100, 10ms, 4);
    EXPECT_EQ(f.limiter.Limit(), 64u);
}

TEST(AdaptiveLimiter, SamplesThatDoNotCountLeaveTheLimitAlone) {
    LimiterFixture f;
    f.Windows(20, 10ms);
    const std::size_t limit = f.limiter.Limit();
    for (int w = 0; w < 20; ++w) {
        for (int i = 0; i < 64; ++i) ASSERT_TRUE(f.limiter.TryAcquire(0ns));
        f.clock->Advance(100ms);
        for (int i = 0; i < 64; ++i) f.limiter.Release(10s, false);
    }
    EXPECT_EQ(f.limiter.Limit(), limit);
    EXPECT_EQ(f.limiter.InFlight(), 0u);
}

TEST(AdaptiveLimiter, AWindowNeedsBothItsSamplesAndItsTime) {
    LimiterOptions options;
    options.window_samples = 10;
    LimiterFixture f(options);
    for (int i = 0; i < 9; ++i) {
        ASSERT_TRUE(f.limiter.TryAcquire(0ns));
        f.clock->Advance(1s);
        f.limiter.Release(5ms, true);
    }
    EXPECT_EQ(f.limiter.LongRtt(), 0ns) << "9 samples are not a window";
    for (int i = 0; i < 20; ++i) {
        ASSERT_TRUE(f.limiter.TryAcquire(0ns));
        f.limiter.Release(5ms, true);
    }
    EXPECT_EQ(f.limiter.LongRtt(), 5ms);
}

}  // namespace
}  // namespace keel::resilience

namespace keel::resilience {
namespace {

using namespace std::chrono_literals;

// CoDel on the wait in front of the server: a request that queued past the interval is shed
// always; once a whole interval had no request under the target, past the target too; and
// the first interval with a short wait ends that.
TEST(AdaptiveLimiter, ShedsOnAStandingQueueInFrontOfTheServer) {
    auto clock = std::make_shared<ManualClock>();
    AdaptiveLimiter limiter(LimiterOptions{.initial_limit = 1000}, clock);
    auto once = [&limiter](std::chrono::nanoseconds queued) {
        const bool admitted = limiter.TryAcquire(queued);
        if (admitted) limiter.Release(1ms, false);
        return admitted;
    };
    EXPECT_TRUE(once(0ns));
    EXPECT_TRUE(once(80ms));
    EXPECT_FALSE(once(150ms)) << "past the interval: shed even without a standing queue";
    EXPECT_FALSE(limiter.QueueStanding());

    for (int i = 0; i < 10; ++i) EXPECT_TRUE(once(20ms));  // a busy interval, min wait 0
    clock->Advance(100ms);
    EXPECT_TRUE(once(20ms));
    EXPECT_FALSE(limiter.QueueStanding()) << "the interval before had a 0 ms wait";
    for (int i = 0; i < 10; ++i) once(20ms);
    clock->Advance(100ms);
    EXPECT_FALSE(once(20ms)) << "every wait of the last interval was over 5 ms";
    EXPECT_TRUE(limiter.QueueStanding());
    EXPECT_TRUE(once(4ms));
    clock->Advance(100ms);
    EXPECT_TRUE(once(20ms)) << "a 4 ms wait ended the standing queue";
    EXPECT_FALSE(limiter.QueueStanding());
}

TEST(AdaptiveLimiter, QueueSheddingCanBeTurnedOff) {
    auto clock = std::make_shared<ManualClock>();
    AdaptiveLimiter limiter(LimiterOptions{.queue_target = 0ns}, clock);
    EXPECT_TRUE(limiter.TryAcquire(10s));
}

}  // namespace
}  // namespace keel::resilience
