#include "arrival_schedule.hpp"

#include <cmath>

namespace keel::load {

ArrivalSchedule::ArrivalSchedule(double rate, Duration offset, Duration end,
                                 std::uint64_t max_backlog)
    : rate_(rate), offset_(offset), end_(end), max_backlog_(max_backlog) {}

ArrivalSchedule::Duration ArrivalSchedule::DueTime(std::uint64_t slot) const {
    // From the slot number each time: no drift accumulates over millions of slots.
    return offset_ + Duration(static_cast<std::int64_t>(std::llround(slot * 1e9 / rate_)));
}

std::uint64_t ArrivalSchedule::DueBy(Duration now) const {
    if (now < offset_) return 0;
    const double slots = (now - offset_).count() * rate_ / 1e9;
    auto due = static_cast<std::uint64_t>(std::floor(slots)) + 1;
    // rounding in DueTime: make DueBy and DueTime agree exactly
    while (due > 0 && DueTime(due - 1) > now) --due;
    while (DueTime(due) <= now) ++due;
    return due;
}

ArrivalSchedule::Claim ArrivalSchedule::Next(Duration now, std::uint64_t in_flight) {
    Claim claim{Claim::Kind::kSend};
    if (max_backlog_ > 0) {
        const std::uint64_t due = DueBy(now);
        const std::uint64_t late = due > next_ ? due - next_ : 0;
        if (late + in_flight > max_backlog_) {
            // keep the newest slots: the oldest have waited longest and would be the latest
            const std::uint64_t keep = max_backlog_ > in_flight ? max_backlog_ - in_flight : 0;
            std::uint64_t drop = late - std::min(late, keep);
            // never drop past the end
            while (drop > 0 && DueTime(next_ + drop - 1) >= end_) --drop;
            next_ += drop;
            dropped_ += drop;
            claim.dropped = drop;
        }
    }
    claim.slot = next_;
    claim.due = DueTime(next_);
    if (claim.due >= end_) {
        claim.kind = Claim::Kind::kDone;
        return claim;
    }
    ++next_;
    return claim;
}

}  // namespace keel::load
