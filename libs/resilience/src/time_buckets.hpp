#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include <keel/resilience/clock.hpp>

namespace keel::resilience {

/// Two counts (say, calls and failures) over a sliding time window cut into equal buckets;
/// a bucket older than the window is reset when its slot comes round again. Not
/// thread-safe: its owner locks.
class TimeBuckets final {
public:
    struct Counts {
        std::uint64_t total = 0;
        std::uint64_t marked = 0;
    };

    TimeBuckets(std::chrono::nanoseconds window, std::size_t buckets)
        : width_(std::max<std::int64_t>(1, window.count() / std::max<std::size_t>(1, buckets))),
          buckets_(std::max<std::size_t>(1, buckets)) {}

    /// The bucket that `now` falls in, emptied first if it held an older period.
    Counts& At(Clock::TimePoint now) {
        const std::int64_t index = Index(now);
        Bucket& bucket = buckets_[static_cast<std::size_t>(index) % buckets_.size()];
        if (bucket.index != index) bucket = Bucket{index, {}};
        return bucket.counts;
    }

    /// The sums over the buckets still inside the window that ends at `now`.
    Counts Sum(Clock::TimePoint now) const {
        const std::int64_t newest = Index(now);
        const auto oldest = newest - static_cast<std::int64_t>(buckets_.size());
        Counts sum;
        for (const Bucket& b : buckets_) {
            if (b.index <= oldest || b.index > newest) continue;
            sum.total += b.counts.total;
            sum.marked += b.counts.marked;
        }
        return sum;
    }

    void Clear() {
        for (Bucket& b : buckets_) b = Bucket{};
    }

private:
    struct Bucket {
        std::int64_t index = -1;
        Counts counts;
    };
    std::int64_t Index(Clock::TimePoint now) const {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch())
                   .count() /
               width_;
    }

    std::int64_t width_;  // nanoseconds
    std::vector<Bucket> buckets_;
};

}  // namespace keel::resilience
