#include <keel/resilience/retry_budget.hpp>

#include "time_buckets.hpp"

namespace keel::resilience {

RetryBudget::RetryBudget(RetryBudgetOptions options, std::shared_ptr<const Clock> clock)
    : options_(options),
      clock_(std::move(clock)),
      window_(std::make_unique<TimeBuckets>(options.window, 10)) {}

RetryBudget::~RetryBudget() = default;

void RetryBudget::OnRequest() {
    const auto now = clock_->Now();
    std::lock_guard lock(mutex_);
    ++window_->At(now).total;
}

bool RetryBudget::TryRetry() {
    const auto now = clock_->Now();
    std::lock_guard lock(mutex_);
    const auto sum = window_->Sum(now);
    const double allowed =
        options_.ratio * static_cast<double>(sum.total) +
        options_.min_retries_per_second * std::chrono::duration<double>(options_.window).count();
    if (static_cast<double>(sum.marked) + 1 > allowed) return false;
    ++window_->At(now).marked;
    return true;
}

}  // namespace keel::resilience
