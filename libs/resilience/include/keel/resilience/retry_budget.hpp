#pragma once
#include <chrono>
#include <memory>
#include <mutex>

#include <keel/resilience/clock.hpp>

namespace keel::resilience {

class TimeBuckets;

struct RetryBudgetOptions {
    /// Retries allowed per request sent, over the window.
    double ratio = 0.1;
    /// Retries allowed anyway, so a downstream with little traffic still gets its retries.
    double min_retries_per_second = 10;
    std::chrono::seconds window{10};
};

/// Finagle's retry budget for one downstream: over the last `window`, retries may be at most
/// ratio × requests + min_retries_per_second × window. When a downstream fails under load,
/// retries then add at most `ratio` to its load instead of multiplying it by the attempts.
/// Thread-safe.
class RetryBudget final {
public:
    explicit RetryBudget(RetryBudgetOptions options = {},
                         std::shared_ptr<const Clock> clock = SteadyClock());
    ~RetryBudget();
    RetryBudget(const RetryBudget&) = delete;
    RetryBudget& operator=(const RetryBudget&) = delete;

    /// A first attempt was sent (not its retries).
    void OnRequest();
    /// Takes one retry from the budget; false: spent, do not retry.
    bool TryRetry();

private:
    const RetryBudgetOptions options_;
    const std::shared_ptr<const Clock> clock_;
    std::mutex mutex_;
    std::unique_ptr<TimeBuckets> window_;  // total: requests, marked: retries
};

}  // namespace keel::resilience
