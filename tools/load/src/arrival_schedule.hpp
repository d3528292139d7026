#pragma once
// Open loop: requests are due at fixed times whatever the server does (no coordinated omission).
#include <chrono>
#include <cstdint>

namespace keel::load {

/// Slot i is due at start + offset + i / rate. Workers claim slots in order with Claim(now):
/// a slot already due is sent at once and its latency counts from its due time, so a slow
/// server shows as latency, never as fewer requests. With a backlog bound, due slots beyond it
/// are dropped (counted, never sent). Pure arithmetic on the time given: tests pass their own.
/// Not thread-safe: one per io thread.
class ArrivalSchedule final {
public:
    using Duration = std::chrono::nanoseconds;

    struct Claim {
        enum class Kind { kSend, kDone } kind;
        std::uint64_t slot = 0;
        Duration due{};             // since start
        std::uint64_t dropped = 0;  // slots skipped by this claim (over the backlog bound)
    };

    /// `end`: no slot is due at or after it. `max_backlog`: the most slots that may be due and
    /// unanswered (in flight + late) at a claim; 0 = no bound.
    ArrivalSchedule(double rate, Duration offset, Duration end, std::uint64_t max_backlog);

    /// The next slot for a worker at `now` (since start) while `in_flight` requests are sent
    /// and unanswered. The worker waits until `due` if that is later than now.
    Claim Next(Duration now, std::uint64_t in_flight);

    Duration DueTime(std::uint64_t slot) const;
    /// Slots due at or before `now`.
    std::uint64_t DueBy(Duration now) const;
    std::uint64_t Claimed() const { return next_; }
    std::uint64_t Dropped() const { return dropped_; }

private:
    double rate_;  // slots per second
    Duration offset_;
    Duration end_;
    std::uint64_t max_backlog_;
    std::uint64_t next_ = 0;
    std::uint64_t dropped_ = 0;
};

}  // namespace keel::load
