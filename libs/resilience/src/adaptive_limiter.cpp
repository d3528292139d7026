#include <keel/resilience/adaptive_limiter.hpp>

#include <algorithm>
#include <limits>

namespace keel::resilience {

namespace {
// The long RTT is a plain mean over its first windows, so one odd first window does not
// stand for the baseline for the next minutes.
constexpr std::size_t kWarmupWindows = 10;
}  // namespace

AdaptiveLimiter::AdaptiveLimiter(LimiterOptions options, std::shared_ptr<const Clock> clock)
    : options_(options),
      clock_(std::move(clock)),
      limit_(std::clamp(options.initial_limit, options.min_limit, options.max_limit)),
      interval_start_ns_(clock_->Now().time_since_epoch().count()),
      interval_min_queued_(std::numeric_limits<std::int64_t>::max()),
      window_start_(clock_->Now()),
      estimated_limit_(static_cast<double>(limit_.load())) {}

bool AdaptiveLimiter::QueueAdmits(std::chrono::nanoseconds queued) {
    const std::int64_t now = clock_->Now().time_since_epoch().count();
    const std::int64_t interval = options_.queue_interval.count();
    std::int64_t start = interval_start_ns_.load(std::memory_order_relaxed);
    // One caller closes each interval: standing when even its shortest wait was too long.
    if (now - start >= interval &&
        interval_start_ns_.compare_exchange_strong(start, now, std::memory_order_relaxed)) {
        const std::int64_t shortest = interval_min_queued_.exchange(
            std::numeric_limits<std::int64_t>::max(), std::memory_order_relaxed);
        standing_.store(shortest != std::numeric_limits<std::int64_t>::max() &&
                            shortest >= options_.queue_target.count(),
                        std::memory_order_relaxed);
    }
    std::int64_t seen = interval_min_queued_.load(std::memory_order_relaxed);
    while (queued.count() < seen && !interval_min_queued_.compare_exchange_weak(
                                        seen, queued.count(), std::memory_order_relaxed)) {
    }
    const std::int64_t allowed =
        standing_.load(std::memory_order_relaxed) ? options_.queue_target.count() : interval;
    return queued.count() <= allowed;
}

bool AdaptiveLimiter::TryAcquire(std::chrono::nanoseconds queued) {
    if (options_.queue_target.count() > 0 && !QueueAdmits(queued)) return false;
    std::size_t current = in_flight_.load(std::memory_order_relaxed);
    do {
        if (current >= limit_.load(std::memory_order_relaxed)) return false;
    } while (!in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    std::size_t peak = peak_in_flight_.load(std::memory_order_relaxed);
    while (peak < current + 1 &&
           !peak_in_flight_.compare_exchange_weak(peak, current + 1, std::memory_order_relaxed)) {
    }
    return true;
}

void AdaptiveLimiter::Release(std::chrono::nanoseconds latency, bool counts) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    if (!counts) return;
    sample_sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, latency.count())),
                             std::memory_order_relaxed);
    const auto n = sample_count_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (n >= options_.window_samples) CloseWindow();
}

void AdaptiveLimiter::CloseWindow() {
    std::unique_lock lock(update_mutex_, std::try_to_lock);
    if (!lock) return;  // another thread is closing it
    const auto now = clock_->Now();
    if (now - window_start_ < options_.min_window) return;
    // A sample landing between the two exchanges goes to the next window's sum with the
    // wrong count: a rounding error in one mean, not worth a lock on every release.
    const auto count = sample_count_.exchange(0, std::memory_order_relaxed);
    const auto sum = sample_sum_ns_.exchange(0, std::memory_order_relaxed);
    if (count == 0) return;
    window_start_ = now;
    const auto peak = peak_in_flight_.exchange(in_flight_.load(std::memory_order_relaxed),
                                               std::memory_order_relaxed);
    Update(static_cast<double>(sum) / static_cast<double>(count), peak);
}

void AdaptiveLimiter::Update(double short_rtt, std::size_t peak_in_flight) {
    short_rtt = std::max(short_rtt, 1.0);
    if (long_samples_ < kWarmupWindows) {
        long_rtt_ns_ = (long_rtt_ns_ * static_cast<double>(long_samples_) + short_rtt) /
                       static_cast<double>(long_samples_ + 1);
        ++long_samples_;
    } else {
        const double factor = 2.0 / (static_cast<double>(options_.long_window) + 1.0);
        long_rtt_ns_ = long_rtt_ns_ * (1 - factor) + short_rtt * factor;
    }
    // After a long overload the average has absorbed queueing time; once latency is back to
    // normal, let it return to the baseline quicker than the average alone would.
    if (long_rtt_ns_ / short_rtt > 2) long_rtt_ns_ *= 0.95;
    if (static_cast<double>(peak_in_flight) < estimated_limit_ / 2) return;
    const double gradient = std::clamp(options_.tolerance * long_rtt_ns_ / short_rtt, 0.5, 1.0);
    const double target = estimated_limit_ * gradient + options_.queue_size;
    const double smoothed =
        estimated_limit_ * (1 - options_.smoothing) + target * options_.smoothing;
    estimated_limit_ = std::clamp(smoothed, static_cast<double>(options_.min_limit),
                                  static_cast<double>(options_.max_limit));
    limit_.store(static_cast<std::size_t>(estimated_limit_), std::memory_order_relaxed);
}

std::chrono::nanoseconds AdaptiveLimiter::LongRtt() const {
    std::lock_guard lock(update_mutex_);
    return std::chrono::nanoseconds(static_cast<std::int64_t>(long_rtt_ns_));
}

}  // namespace keel::resilience
