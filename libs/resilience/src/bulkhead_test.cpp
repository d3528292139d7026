#include <keel/resilience/bulkhead.hpp>

#include <gtest/gtest.h>

#include <optional>

#include <keel/resilience/rejected.hpp>
#include <keel/telemetry/metrics.hpp>
#include <keel/testing/coro_test.hpp>

namespace keel::resilience {
namespace {

using namespace std::chrono_literals;
using SteadyClockType = std::chrono::steady_clock;

// Holds a slot of `bulkhead` until `release` is set; records how it went.
struct Holder {
    bool got = false;
    bool rejected = false;
    bool release = false;
    bool done = false;
};

Task<void> Hold(Bulkhead& bulkhead, Holder& h, SteadyClockType::time_point deadline) {
    try {
        Bulkhead::Slot slot = co_await bulkhead.Acquire(deadline);
        h.got = true;
        while (!h.release) co_await testing::Sleep(1ms);
    } catch (const Rejected&) {
        h.rejected = true;
    }
    h.done = true;
}

void Spawn(Bulkhead& bulkhead, Holder& h, asio::any_io_executor ex,
           SteadyClockType::time_point deadline) {
    asio::co_spawn(ex, Hold(bulkhead, h, deadline), [](std::exception_ptr e) {
        if (e) ADD_FAILURE() << "holder failed";
    });
}

Task<bool> Until(std::function<bool()> condition) {
    auto check = [condition]() -> Task<bool> { co_return condition(); };
    co_return co_await testing::WaitUntil(check, 5s);
}

KEEL_CORO_TEST(Bulkhead, BoundsCallsAndQueueAndHandsSlotsOnInOrder) {
    telemetry::Gauge in_flight;
    telemetry::Gauge queued;
    Bulkhead bulkhead("catalog", BulkheadOptions{2, 1, 5000ms}, &in_flight, &queued);
    auto ex = co_await asio::this_coro::executor;
    const auto deadline = SteadyClockType::now() + 10s;
    Holder a, b, c;
    Spawn(bulkhead, a, ex, deadline);
    Spawn(bulkhead, b, ex, deadline);
    Spawn(bulkhead, c, ex, deadline);
    EXPECT_TRUE(co_await Until([&] { return a.got && b.got && bulkhead.Queued() == 1; }));
    EXPECT_FALSE(c.got);
    EXPECT_EQ(in_flight.Value(), 2);
    EXPECT_EQ(queued.Value(), 1);

    bool full = false;
    const auto started = SteadyClockType::now();
    try {
        Bulkhead::Slot slot = co_await bulkhead.Acquire(deadline);
    } catch (const Rejected& e) {
        full = e.Reason() == RejectReason::kBulkheadFull;
        EXPECT_STREQ(e.what(), "catalog: bulkhead full (2 calls in flight, 1 queued)");
    }
    EXPECT_TRUE(full);
    EXPECT_LT(SteadyClockType::now() - started, 5ms) << "a full queue refuses at once";

    a.release = true;
    EXPECT_TRUE(co_await Until([&] { return c.got; }));
    EXPECT_EQ(bulkhead.InFlight(), 2u);
    EXPECT_EQ(bulkhead.Queued(), 0u);
    b.release = c.release = true;
    EXPECT_TRUE(co_await Until([&] { return a.done && b.done && c.done; }));
    EXPECT_EQ(bulkhead.InFlight(), 0u);
    EXPECT_EQ(in_flight.Value(), 0);
}

KEEL_CORO_TEST(Bulkhead, AQueuedCallGivesUpAtMaxWaitOrItsDeadline) {
    Bulkhead bulkhead("catalog", BulkheadOptions{1, 4, 40ms});
    auto ex = co_await asio::this_coro::executor;
    Holder a, by_wait, by_deadline;
    Spawn(bulkhead, a, ex, SteadyClockType::now() + 10s);
    EXPECT_TRUE(co_await Until([&] { return a.got; }));
    const auto started = SteadyClockType::now();
    Spawn(bulkhead, by_wait, ex, started + 10s);
    Spawn(bulkhead, by_deadline, ex, started + 10ms);
    EXPECT_TRUE(co_await Until([&] { return by_deadline.done; }));
    const auto deadline_wait = SteadyClockType::now() - started;
    EXPECT_FALSE(by_wait.done);
    EXPECT_TRUE(co_await Until([&] { return by_wait.done; }));
    const auto max_wait = SteadyClockType::now() - started;
    EXPECT_TRUE(by_deadline.rejected && by_wait.rejected);
    EXPECT_LT(deadline_wait, 40ms);
    EXPECT_GE(max_wait, 40ms);
    EXPECT_EQ(bulkhead.Queued(), 0u);
    a.release = true;
    EXPECT_TRUE(co_await Until([&] { return a.done; }));
    EXPECT_EQ(bulkhead.InFlight(), 0u);
}

}  // namespace
}  // namespace keel::resilience
