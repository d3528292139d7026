#include <keel/resilience/backoff.hpp>

#include <algorithm>

namespace keel::resilience {

Backoff::Backoff(BackoffOptions options, std::uint64_t seed)
    : options_(options), rng_(seed), previous_(options.base) {}

std::chrono::milliseconds Backoff::Next() {
    using std::chrono::milliseconds;
    const auto cap = options_.cap.count();
    const auto base = std::min(options_.base.count(), cap);
    std::int64_t low = 0;
    std::int64_t high = 0;
    if (options_.jitter == Jitter::kFull) {
        // base × 2^attempt without overflow: stop doubling at the cap.
        high = base;
        for (int i = 0; i < attempt_ && high < cap; ++i) high *= 2;
        high = std::min(high, cap);
    } else {
        low = base;
        high = std::clamp<std::int64_t>(previous_.count() * 3, base, cap);
    }
    ++attempt_;
    std::uniform_int_distribution<std::int64_t> pick(low, std::max(low, high));
    previous_ = milliseconds(pick(rng_));
    return previous_;
}

}  // namespace keel::resilience
