#pragma once
#include <chrono>
#include <string>
#include <string_view>

#include <keel/core/unavailable.hpp>

namespace keel::resilience {

/// Why a call to a downstream was refused without (or before) reaching it.
enum class RejectReason {
    kCircuitOpen,       ///< the downstream's breaker is open (or its half-open probes are out)
    kBulkheadFull,      ///< too many calls in flight and queued, or the queue wait ran out
    kDeadlineExceeded,  ///< the caller's deadline has passed: the work would be wasted
    kBudget,            ///< a retry was due but the retry budget is spent
};

/// "circuit_open", "bulkhead_full", "deadline_exceeded", "budget".
std::string_view ToString(RejectReason reason);

/// A call refused by a resilience policy. A keel::UnavailableError, so a handler that lets it
/// escape answers 503; RetryAfter() is the wait to advertise in Retry-After (at least 1 s).
/// what() reads for an operator: "catalog: circuit open after 5 consecutive failures; retry in
/// 4 s".
class Rejected final : public UnavailableError {
public:
    Rejected(RejectReason reason, std::chrono::seconds retry_after, const std::string& message)
        : UnavailableError(message), reason_(reason), retry_after_(retry_after) {}
    RejectReason Reason() const { return reason_; }
    std::chrono::seconds RetryAfter() const override { return retry_after_; }

private:
    RejectReason reason_;
    std::chrono::seconds retry_after_;
};

/// `wait` rounded up to whole seconds, at least 1: the value for a Retry-After header.
std::chrono::seconds RetryAfterSeconds(std::chrono::nanoseconds wait);

}  // namespace keel::resilience
