#include <keel/resilience/rejected.hpp>

#include <algorithm>

namespace keel::resilience {

std::string_view ToString(RejectReason reason) {
    switch (reason) {
        case RejectReason::kCircuitOpen:
            return "circuit_open";
        case RejectReason::kBulkheadFull:
            return "bulkhead_full";
        case RejectReason::kDeadlineExceeded:
            return "deadline_exceeded";
        case RejectReason::kBudget:
            return "budget";
    }
    return "unknown";
}

std::chrono::seconds RetryAfterSeconds(std::chrono::nanoseconds wait) {
    const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait);
    return std::max(seconds, std::chrono::seconds(1));
}

}  // namespace keel::resilience
