#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include <keel/http/admission.hpp>
#include <keel/resilience/clock.hpp>

namespace keel::resilience {

struct LimiterOptions {
    std::size_t min_limit = 8;
    std::size_t max_limit = 1000;
    std::size_t initial_limit = 64;
    /// How far one window moves the limit toward its new estimate (0..1).
    double smoothing = 0.2;
    /// Latency may grow to this multiple of the long-term RTT before the limit falls.
    double tolerance = 1.5;
    /// Headroom added at each estimate: with flat latency the limit grows by
    /// smoothing × queue_size per window.
    double queue_size = 4;
    /// Windows averaged into the long-term RTT (an exponential moving average).
    std::size_t long_window = 600;
    /// A window (one short-term RTT sample) closes after at least this many requests and
    /// this much time.
    std::size_t window_samples = 10;
    std::chrono::nanoseconds min_window = std::chrono::milliseconds(100);
    /// Queue-delay shedding (CoDel, as Facebook's servers use it): when every request of the
    /// last `queue_interval` had waited at least `queue_target` before the server read it,
    /// the queue is standing and each request that waited longer than queue_target is shed;
    /// otherwise only those that waited longer than queue_interval. The wait comes from the
    /// gateway (http::AdmissionControl::TryAcquire). queue_target 0 turns it off.
    std::chrono::nanoseconds queue_target = std::chrono::milliseconds(5);
    std::chrono::nanoseconds queue_interval = std::chrono::milliseconds(100);
};

/// Overload control for a server (http::ServerOptions::admission): an adaptive concurrency
/// limit after Netflix concurrency-limits' Gradient2. Each window's mean latency (short RTT)
/// is compared with a slow moving average of it (long RTT, the latency without queueing):
/// gradient = clamp(tolerance × long / short, 0.5, 1); limit ← limit × gradient + queue_size,
/// smoothed, within [min_limit, max_limit]. Latency that grows (requests queueing for CPU or
/// a pool) pulls the limit down; flat latency lets it creep up. It only grows while at least
/// half of it is in use, so an idle server does not inflate it.
/// Before the limit, a request that queued too long in front of the server is shed (the
/// queue_* options): with the machine out of CPU the wait shows there and not in handler
/// latency. TryAcquire is lock-free (CAS loops); Release adds to atomics and takes a mutex with
/// try_lock once per window. Thread-safe.
class AdaptiveLimiter final : public http::AdmissionControl {
public:
    explicit AdaptiveLimiter(LimiterOptions options = {},
                             std::shared_ptr<const Clock> clock = SteadyClock());

    bool TryAcquire(std::chrono::nanoseconds queued) override;
    /// True while the queue in front of the server is standing (see queue_target).
    bool QueueStanding() const { return standing_.load(std::memory_order_relaxed); }
    void Release(std::chrono::nanoseconds latency, bool counts) override;
    std::size_t Limit() const override { return limit_.load(std::memory_order_relaxed); }
    std::size_t InFlight() const override { return in_flight_.load(std::memory_order_relaxed); }

    /// The long-term (no-load) RTT estimate; 0 before the first window.
    std::chrono::nanoseconds LongRtt() const;

private:
    bool QueueAdmits(std::chrono::nanoseconds queued);
    void CloseWindow();
    void Update(double short_rtt_ns, std::size_t peak_in_flight);

    const LimiterOptions options_;
    const std::shared_ptr<const Clock> clock_;

    std::atomic<std::size_t> limit_;
    std::atomic<std::size_t> in_flight_{0};
    std::atomic<std::size_t> peak_in_flight_{0};  // in this window
    std::atomic<std::uint64_t> sample_sum_ns_{0};
    std::atomic<std::uint64_t> sample_count_{0};

    std::atomic<std::int64_t> interval_start_ns_;    // clock time since its epoch
    std::atomic<std::int64_t> interval_min_queued_;  // ns; INT64_MAX: none yet
    std::atomic<bool> standing_{false};

    mutable std::mutex update_mutex_;
    Clock::TimePoint window_start_;
    double estimated_limit_;
    double long_rtt_ns_ = 0;
    std::size_t long_samples_ = 0;
};

}  // namespace keel::resilience
