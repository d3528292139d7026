#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>

namespace keel::resilience {

/// Where the time-based policies (breaker windows, retry budget, limiter windows) read the
/// time, so that their tests drive time by hand. Implementations are thread-safe.
class Clock {
public:
    using TimePoint = std::chrono::steady_clock::time_point;
    virtual ~Clock() = default;
    virtual TimePoint Now() const = 0;
};

/// std::chrono::steady_clock; one shared instance for the process.
std::shared_ptr<const Clock> SteadyClock();

/// A clock that moves only when told (tests). Starts an hour after the steady epoch so that
/// windows reaching back from "now" stay on positive times.
class ManualClock final : public Clock {
public:
    ManualClock() = default;
    TimePoint Now() const override { return TimePoint(std::chrono::nanoseconds(ns_.load())); }
    void Advance(std::chrono::nanoseconds by) { ns_.fetch_add(by.count()); }

private:
    std::atomic<std::int64_t> ns_{std::chrono::nanoseconds(std::chrono::hours(1)).count()};
};

}  // namespace keel::resilience
