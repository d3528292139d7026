#include "arrival_schedule.hpp"

#include <gtest/gtest.h>

namespace keel::load {
namespace {

using namespace std::chrono_literals;
using Claim = ArrivalSchedule::Claim;

TEST(ArrivalSchedule, SlotsAreEvenlySpacedWithoutDrift) {
    ArrivalSchedule s(3.0, 0ns, 1000000s, 0);
    EXPECT_EQ(s.DueTime(0), 0ns);
    EXPECT_EQ(s.DueTime(1), 333333333ns);
    EXPECT_EQ(s.DueTime(3), 1s);
    EXPECT_EQ(s.DueTime(3'000'000), 1000000s);  // from the slot number: no accumulated error
    EXPECT_EQ(s.DueBy(999ms), 3u);
    EXPECT_EQ(s.DueBy(1s), 4u);
}

// A fake clock: workers that wait until each slot is due, and a server that takes `service`.
TEST(ArrivalSchedule, ASlowServerDelaysSendsButNotTheSchedule) {
    ArrivalSchedule s(1000.0, 0ns, 1s, 0);  // 1000/s for 1 s
    std::chrono::nanoseconds now = 0ns;
    std::uint64_t sent = 0;
    std::chrono::nanoseconds worst_lateness = 0ns;
    // one worker, each request takes 2 ms: it falls behind, yet claims every slot in order
    for (;;) {
        const Claim c = s.Next(now, 0);
        if (c.kind == Claim::Kind::kDone) break;
        EXPECT_EQ(c.slot, sent);
        if (c.due > now) now = c.due;
        worst_lateness = std::max(worst_lateness, now - c.due);  // what latency from due counts
        now += 2ms;
        ++sent;
    }
    EXPECT_EQ(sent, 1000u);
    EXPECT_EQ(s.Dropped(), 0u);
    EXPECT_GE(worst_lateness, 990ms);  // the last slot waited ~1 s: coordinated omission avoided
}

TEST(ArrivalSchedule, AFastServerIsAskedAtTheRateExactly) {
    ArrivalSchedule s(200.0, 0ns, 5s, 0);
    std::chrono::nanoseconds now = 0ns;
    std::uint64_t sent = 0;
    for (;;) {
        const Claim c = s.Next(now, 0);
        if (c.kind == Claim::Kind::kDone) break;
        EXPECT_GE(c.due, now - 1ns);  // never early, never late
        now = c.due + 100us;
        ++sent;
    }
    EXPECT_EQ(sent, 1000u);  // 200/s * 5 s
}

TEST(ArrivalSchedule, BacklogOverTheBoundIsDroppedOldestFirst) {
    ArrivalSchedule s(1000.0, 0ns, 10s, 50);
    // at 100 ms, 101 slots are due and 10 requests are in flight: keep 40 late ones, drop 61
    const Claim c = s.Next(100ms, 10);
    EXPECT_EQ(c.kind, Claim::Kind::kSend);
    EXPECT_EQ(c.dropped, 61u);
    EXPECT_EQ(c.slot, 61u);
    EXPECT_EQ(s.Dropped(), 61u);
    const Claim next = s.Next(100ms, 11);
    EXPECT_EQ(next.slot, 62u);
    EXPECT_EQ(next.dropped, 0u);
}

TEST(ArrivalSchedule, ThreadsSplitTheSlotsByOffset) {
    // two threads at 50/s each, the second offset by one slot of the whole 100/s schedule
    ArrivalSchedule a(50.0, 0ns, 1s, 0), b(50.0, 10ms, 1s, 0);
    EXPECT_EQ(a.DueTime(1), 20ms);
    EXPECT_EQ(b.DueTime(0), 10ms);
    EXPECT_EQ(b.DueTime(1), 30ms);
    EXPECT_EQ(a.DueBy(999ms) + b.DueBy(999ms), 100u);
}

}  // namespace
}  // namespace keel::load
