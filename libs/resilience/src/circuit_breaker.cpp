#include <keel/resilience/circuit_breaker.hpp>

#include <algorithm>
#include <cmath>
#include <utility>

#include "time_buckets.hpp"

namespace keel::resilience {

std::string_view ToString(BreakerState state) {
    switch (state) {
        case BreakerState::kClosed:
            return "closed";
        case BreakerState::kHalfOpen:
            return "half_open";
        case BreakerState::kOpen:
            return "open";
    }
    return "unknown";
}

CircuitBreaker::Permit::Permit(Permit&& other) noexcept
    : breaker_(std::exchange(other.breaker_, nullptr)),
      generation_(other.generation_),
      probe_(other.probe_) {}

CircuitBreaker::Permit::~Permit() {
    if (breaker_) breaker_->Abandon(*this);
}

void CircuitBreaker::Permit::Record(std::chrono::nanoseconds latency, bool success) {
    if (!breaker_) return;
    breaker_->Record(*this, latency, success);
    breaker_ = nullptr;
}

CircuitBreaker::CircuitBreaker(BreakerOptions options, std::shared_ptr<const Clock> clock)
    : options_(options),
      clock_(std::move(clock)),
      window_(std::make_unique<TimeBuckets>(options.window, options.window_buckets)),
      open_for_(options.open_for) {}

CircuitBreaker::~CircuitBreaker() = default;

std::optional<CircuitBreaker::Permit> CircuitBreaker::TryAcquire() {
    if (!options_.enabled) return Permit(nullptr, 0, false);
    std::lock_guard lock(mutex_);
    if (state_ == BreakerState::kClosed) return Permit(this, generation_, false);
    if (state_ == BreakerState::kOpen) {
        if (clock_->Now() < open_until_) return std::nullopt;
        MoveTo(BreakerState::kHalfOpen, "open time elapsed");
    }
    if (probes_admitted_ >= std::max<std::size_t>(1, options_.half_open_probes))
        return std::nullopt;
    ++probes_admitted_;
    return Permit(this, generation_, true);
}

void CircuitBreaker::Record(const Permit& permit, std::chrono::nanoseconds latency, bool success) {
    const bool failed = !success || latency >= options_.slow_call;
    const auto now = clock_->Now();
    std::lock_guard lock(mutex_);
    if (permit.generation_ != generation_) return;
    if (permit.probe_)
        RecordProbe(failed);
    else
        RecordClosed(now, failed);
}

void CircuitBreaker::Abandon(const Permit& permit) {
    std::lock_guard lock(mutex_);
    if (permit.generation_ == generation_ && permit.probe_ && probes_admitted_ > 0)
        --probes_admitted_;
}

void CircuitBreaker::RecordClosed(Clock::TimePoint now, bool failed) {
    auto& bucket = window_->At(now);
    ++bucket.total;
    if (failed) ++bucket.marked;
    consecutive_failures_ = failed ? consecutive_failures_ + 1 : 0;
    if (options_.consecutive_failures > 0 &&
        consecutive_failures_ >= options_.consecutive_failures) {
        MoveTo(BreakerState::kOpen,
               "after " + std::to_string(consecutive_failures_) + " consecutive failures");
        return;
    }
    if (!failed) return;
    const auto sum = window_->Sum(now);
    if (sum.total < std::max<std::size_t>(1, options_.min_calls)) return;
    const double rate = static_cast<double>(sum.marked) / static_cast<double>(sum.total);
    if (rate < options_.failure_rate) return;
    MoveTo(BreakerState::kOpen, "at a failure rate of " +
                                    std::to_string(static_cast<int>(std::lround(rate * 100))) +
                                    "% over " + std::to_string(sum.total) + " calls");
}

void CircuitBreaker::RecordProbe(bool failed) {
    if (failed) {
        open_for_ = std::min(open_for_ * 2, std::max(options_.max_open_for, options_.open_for));
        MoveTo(BreakerState::kOpen, "after a failed probe");
        return;
    }
    ++probes_succeeded_;
    if (probes_succeeded_ >= std::max<std::size_t>(1, options_.half_open_probes)) {
        open_for_ = options_.open_for;
        MoveTo(BreakerState::kClosed, "probes succeeded");
    }
}

void CircuitBreaker::MoveTo(BreakerState to, std::string reason) {
    const BreakerState from = state_;
    state_ = to;
    ++generation_;
    probes_admitted_ = 0;
    probes_succeeded_ = 0;
    consecutive_failures_ = 0;
    if (to == BreakerState::kOpen) {
        open_until_ = clock_->Now() + open_for_;
        open_reason_ = reason;
    }
    if (to == BreakerState::kClosed) window_->Clear();
    if (listener_) listener_(BreakerTransition{from, to, reason});
}

BreakerState CircuitBreaker::State() const {
    std::lock_guard lock(mutex_);
    return state_;
}

std::chrono::nanoseconds CircuitBreaker::RetryAfter() const {
    const auto now = clock_->Now();
    std::lock_guard lock(mutex_);
    if (state_ != BreakerState::kOpen) return std::chrono::nanoseconds(0);
    return std::max(std::chrono::nanoseconds(0), open_until_ - now);
}

std::string CircuitBreaker::OpenReason() const {
    std::lock_guard lock(mutex_);
    return open_reason_;
}

}  // namespace keel::resilience
