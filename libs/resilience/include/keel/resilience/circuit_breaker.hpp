#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <keel/resilience/clock.hpp>

namespace keel::resilience {

class TimeBuckets;

enum class BreakerState { kClosed = 0, kHalfOpen = 1, kOpen = 2 };

/// "closed", "half_open", "open" (the metric label values).
std::string_view ToString(BreakerState state);

struct BreakerOptions {
    /// false: every call goes through and nothing is counted (experiments without breakers).
    bool enabled = true;
    /// Opens when at least `min_calls` calls in `window` ended and this share of them failed.
    double failure_rate = 0.5;
    std::size_t min_calls = 20;
    /// Opens after this many failures in a row, whatever the window says (0: never).
    std::size_t consecutive_failures = 5;
    /// A call that took this long counts as a failure even when it succeeded.
    std::chrono::nanoseconds slow_call = std::chrono::seconds(1);
    std::chrono::nanoseconds window = std::chrono::seconds(10);
    std::size_t window_buckets = 10;
    /// How long it stays open before letting probes through; doubled each time probes fail
    /// again, up to `max_open_for` (equal to open_for: no doubling).
    std::chrono::nanoseconds open_for = std::chrono::seconds(5);
    std::chrono::nanoseconds max_open_for = std::chrono::seconds(60);
    /// Half-open admits this many probe calls; all of them succeeding closes it.
    std::size_t half_open_probes = 2;
};

struct BreakerTransition {
    BreakerState from;
    BreakerState to;
    std::string_view reason;  ///< e.g. "5 consecutive failures"; valid during the callback
};

/// A circuit breaker for one downstream. Closed: every call goes through and its outcome
/// lands in a sliding window. Open: every call is refused at once until open_for has passed.
/// Half-open (entered on the first TryAcquire after that): up to half_open_probes calls go
/// through; all succeeding closes it, any failing reopens it for twice as long.
/// Thread-safe (one short mutex hold per call and per result). Must outlive its permits.
class CircuitBreaker final {
public:
    /// Leave to send one call. Record its outcome; a permit dropped without Record (the call
    /// was cancelled or never sent) frees its probe slot without counting.
    class Permit final {
    public:
        Permit(Permit&& other) noexcept;
        Permit& operator=(Permit&&) = delete;
        Permit(const Permit&) = delete;
        ~Permit();
        /// `success`: the downstream did its job; a `latency` over slow_call is a failure all
        /// the same. Once per permit.
        void Record(std::chrono::nanoseconds latency, bool success);

    private:
        friend class CircuitBreaker;
        Permit(CircuitBreaker* breaker, std::uint64_t generation, bool probe)
            : breaker_(breaker), generation_(generation), probe_(probe) {}
        CircuitBreaker* breaker_;
        std::uint64_t generation_;
        bool probe_;
    };

    /// Called on every state change, under the breaker's lock: it must be quick and must not
    /// call the breaker (a metric and a log line).
    using Listener = std::function<void(const BreakerTransition&)>;

    CircuitBreaker(BreakerOptions options, std::shared_ptr<const Clock> clock = SteadyClock());
    ~CircuitBreaker();
    CircuitBreaker(const CircuitBreaker&) = delete;
    CircuitBreaker& operator=(const CircuitBreaker&) = delete;

    /// Set before the first call.
    void OnTransition(Listener listener) { listener_ = std::move(listener); }

    /// A permit, or nullopt when the call must be refused (open, or all probes out).
    std::optional<Permit> TryAcquire();

    BreakerState State() const;
    /// Time until probes are let through: 0 unless open.
    std::chrono::nanoseconds RetryAfter() const;
    /// Why it last opened, e.g. "5 consecutive failures" ("" if it never did).
    std::string OpenReason() const;

private:
    void Record(const Permit& permit, std::chrono::nanoseconds latency, bool success);
    void Abandon(const Permit& permit);
    void RecordClosed(Clock::TimePoint now, bool failed);
    void RecordProbe(bool failed);
    void MoveTo(BreakerState to, std::string reason);

    const BreakerOptions options_;
    const std::shared_ptr<const Clock> clock_;
    Listener listener_;

    mutable std::mutex mutex_;
    BreakerState state_ = BreakerState::kClosed;
    std::uint64_t generation_ =
        0;  // bumped on each change: late results of old permits are ignored
    std::unique_ptr<TimeBuckets> window_;
    std::size_t consecutive_failures_ = 0;
    std::chrono::nanoseconds open_for_;
    Clock::TimePoint open_until_{};
    std::size_t probes_admitted_ = 0;
    std::size_t probes_succeeded_ = 0;
    std::string open_reason_;
};

}  // namespace keel::resilience
