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
};

/// Overload control for a server (http::ServerOptions::admission): an adaptive concurrency
/// limit after Netflix concurrency-limits' Gradient2. Each window's mean latency (short RTT)
/// is compared with a slow moving average of it (long RTT, the latency without queueing):
/// gradient = clamp(tolerance × long / short, 0.5, 1); limit ← limit × gradient + queue_size,
/// smoothed, within [min_limit, max_limit]. Latency that grows (requests queueing for CPU or
/// a pool) pulls the limit down; flat latency lets it creep up. It only grows while at least
/// half of it is in use, so an idle server does not inflate it.
/// TryAcquire is lock-free (one CAS loop); Release adds to atomics and takes a mutex with
/// try_lock once per window. Thread-safe.
class AdaptiveLimiter final : public http::AdmissionControl {
public:
    explicit AdaptiveLimiter(LimiterOptions options = {},
                             std::shared_ptr<const Clock> clock = SteadyClock());

    bool TryAcquire() override;
    void Release(std::chrono::nanoseconds latency, bool counts) override;
    std::size_t Limit() const override { return limit_.load(std::memory_order_relaxed); }
    std::size_t InFlight() const override { return in_flight_.load(std::memory_order_relaxed); }

    /// The long-term (no-load) RTT estimate; 0 before the first window.
    std::chrono::nanoseconds LongRtt() const;

private:
    void CloseWindow();
    void Update(double short_rtt_ns, std::size_t peak_in_flight);

    const LimiterOptions options_;
    const std::shared_ptr<const Clock> clock_;

    std::atomic<std::size_t> limit_;
    std::atomic<std::size_t> in_flight_{0};
    std::atomic<std::size_t> peak_in_flight_{0};  // in this window
    std::atomic<std::uint64_t> sample_sum_ns_{0};
    std::atomic<std::uint64_t> sample_count_{0};

    mutable std::mutex update_mutex_;
    Clock::TimePoint window_start_;
    double estimated_limit_;
    double long_rtt_ns_ = 0;
    std::size_t long_samples_ = 0;
};

}  // namespace keel::resilience
