#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <keel/core/asio.hpp>
#include <keel/http/deadline.hpp>
#include <keel/http/message.hpp>
#include <keel/resilience/backoff.hpp>
#include <keel/resilience/bulkhead.hpp>
#include <keel/resilience/circuit_breaker.hpp>
#include <keel/resilience/clock.hpp>
#include <keel/resilience/retry_budget.hpp>
#include <keel/telemetry/metrics.hpp>

namespace keel::http {
class Client;
}

namespace keel::resilience {

struct RetryOptions {
    /// Attempts in all, the first included (1: never retry).
    int max_attempts = 3;
    /// Whether an attempt that ran out of time is tried again. Off: a downstream that hangs
    /// would only hang again, and the caller would wait twice (a refused connection, a
    /// 502/503/504 are still retried).
    bool retry_timeouts = false;
    BackoffOptions backoff;
    RetryBudgetOptions budget;
};

struct DownstreamOptions {
    /// The downstream's name: metric label and error text ("catalog"). A fixed string.
    std::string name;
    /// Each attempt's timeout, cut to what is left of the call's deadline.
    std::chrono::milliseconds timeout{2000};
    /// A half-open breaker's probe gets at most this long: it tests whether the downstream
    /// is back, and a caller whose request became the probe should not wait the full timeout
    /// on a downstream that is still hung.
    std::chrono::milliseconds probe_timeout{250};
    BreakerOptions breaker;
    BulkheadOptions bulkhead;
    RetryOptions retry;
};

/// Every policy for calls to one downstream service, around a shared http::Client:
/// deadline → circuit breaker → bulkhead → attempt → (retry with backoff, within budget).
///
/// - Each attempt's timeout is min(options.timeout, deadline − now), and the request carries
///   it as X-Request-Timeout-Ms so the downstream stops when the caller has.
/// - A ClientError (connect failure, timeout) or a 502/503/504 answer is a failure for the
///   breaker, as is an answer slower than breaker.slow_call; any other status is a success
///   (a 404 or 409 is the downstream doing its job).
/// - Retries happen only for calls marked idempotent or carrying an Idempotency-Key header,
///   only after a ClientError or a 502/503/504, only while the retry budget allows, and only
///   when the backoff wait still leaves time before the deadline.
/// - When the attempts end on a 502/503/504 answer, that answer is returned: the caller
///   decides what to tell its own client (Problem 503 as a rule). When they end on a
///   ClientError, it is rethrown, or wrapped in Rejected(kBudget) when only the retry budget
///   stopped a retry.
///
/// Metrics (registered once, labels from fixed sets): keel_downstream_requests_total
/// {downstream,outcome=ok|error|timeout|rejected_open|rejected_full|deadline} (one per attempt),
/// keel_downstream_retries_total{downstream}, keel_downstream_duration_seconds{downstream}
/// (attempts that reached the network), keel_breaker_state{downstream} (0 closed, 1 half_open,
/// 2 open), keel_breaker_transitions_total{downstream,to}, keel_bulkhead_in_flight{downstream},
/// keel_bulkhead_queued{downstream}. Each breaker change is also a log line.
///
/// `clock` times the breaker and budget windows and the deadline arithmetic, so it must be
/// the steady clock in production; a ManualClock suits tests whose calls carry no deadline.
/// Thread-safe; one per downstream per process. Must outlive the calls it runs.
class Downstream final {
public:
    struct Call {
        http::Verb method = http::Verb::get;
        std::string url;
        std::vector<std::pair<std::string, std::string>> headers;
        std::string body;
        /// Safe to send twice (GET, PUT of a whole resource, ...); a header Idempotency-Key
        /// makes any call so.
        bool idempotent = false;
        /// The caller's own deadline (RequestContext::Deadline in a handler).
        std::optional<http::SteadyTime> deadline;
    };

    Downstream(std::shared_ptr<http::Client> client, DownstreamOptions options,
               telemetry::Registry& registry = telemetry::DefaultRegistry(),
               std::shared_ptr<const Clock> clock = SteadyClock());
    ~Downstream();
    Downstream(const Downstream&) = delete;
    Downstream& operator=(const Downstream&) = delete;

    /// Sends `call` under the policies above. Throws Rejected (kDeadlineExceeded at once when
    /// no time is left, kCircuitOpen in microseconds while the breaker is open,
    /// kBulkheadFull, kBudget) or http::ClientError; both are keel::UnavailableError (503).
    Task<http::Response> Send(Call call);

    const std::string& Name() const;
    const CircuitBreaker& Breaker() const;
    /// The bulkhead's calls running and waiting now.
    std::size_t InFlight() const;
    std::size_t Queued() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace keel::resilience
