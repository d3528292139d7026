#include <keel/resilience/downstream.hpp>

#include <boost/beast/core/string.hpp>

#include <array>
#include <random>

#include <keel/core/log.hpp>
#include <keel/http/client.hpp>
#include <keel/resilience/rejected.hpp>

namespace keel::resilience {

namespace {

using std::chrono::milliseconds;

enum class Outcome { kOk, kError, kTimeout, kRejectedOpen, kRejectedFull, kDeadline, kCount };
constexpr std::array<const char*, static_cast<std::size_t>(Outcome::kCount)> kOutcomeNames = {
    "ok", "error", "timeout", "rejected_open", "rejected_full", "deadline"};
constexpr std::array<BreakerState, 3> kStates = {BreakerState::kClosed, BreakerState::kHalfOpen,
                                                 BreakerState::kOpen};

bool IsGatewayFailure(http::Status status) {
    return status == http::Status::bad_gateway || status == http::Status::service_unavailable ||
           status == http::Status::gateway_timeout;
}

bool HasIdempotencyKey(const std::vector<std::pair<std::string, std::string>>& headers) {
    for (const auto& header : headers)
        if (boost::beast::iequals(header.first, "Idempotency-Key")) return true;
    return false;
}

std::uint64_t NextSeed() {
    thread_local std::mt19937_64 seeds(std::random_device{}());
    return seeds();
}

std::string What(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "unknown error";
    }
}

}  // namespace

struct Downstream::Impl {
    Impl(std::shared_ptr<http::Client> c, DownstreamOptions o, telemetry::Registry& registry,
         std::shared_ptr<const Clock> k)
        : client(std::move(c)),
          options(std::move(o)),
          clock(std::move(k)),
          labels{{"downstream", options.name}},
          retries(registry.GetCounter("keel_downstream_retries_total",
                                      "Retries sent to a downstream service.", labels)),
          duration(registry.GetHistogram("keel_downstream_duration_seconds",
                                         "Latency of attempts sent to a downstream service.",
                                         labels)),
          state_gauge(registry.GetGauge("keel_breaker_state",
                                        "Circuit breaker state: 0 closed, 1 half_open, 2 open.",
                                        labels)),
          in_flight(registry.GetGauge("keel_bulkhead_in_flight",
                                      "Calls to a downstream service running now.", labels)),
          queued(registry.GetGauge("keel_bulkhead_queued",
                                   "Calls waiting for a bulkhead slot of a downstream service.",
                                   labels)),
          breaker(options.breaker, clock),
          bulkhead(options.name, options.bulkhead, &in_flight, &queued),
          budget(options.retry.budget, clock) {
        for (std::size_t i = 0; i < outcomes.size(); ++i) {
            outcomes[i] = &registry.GetCounter(
                "keel_downstream_requests_total", "Attempts to call a downstream, by outcome.",
                {{"downstream", options.name}, {"outcome", kOutcomeNames[i]}});
        }
        for (std::size_t i = 0; i < kStates.size(); ++i) {
            transitions[i] = &registry.GetCounter(
                "keel_breaker_transitions_total", "Circuit breaker state changes, by new state.",
                {{"downstream", options.name}, {"to", std::string(ToString(kStates[i]))}});
        }
        breaker.OnTransition([this](const BreakerTransition& t) { OnTransition(t); });
    }

    void OnTransition(const BreakerTransition& t) {
        state_gauge.Set(static_cast<std::int64_t>(t.to));
        transitions[static_cast<std::size_t>(t.to)]->Inc();
        const auto level = t.to == BreakerState::kOpen ? log::Level::kWarn : log::Level::kInfo;
        log::Write(level, "circuit breaker changed state",
                   {{"downstream", options.name},
                    {"from", ToString(t.from)},
                    {"to", ToString(t.to)},
                    {"reason", t.reason}});
    }

    void Count(Outcome outcome) { outcomes[static_cast<std::size_t>(outcome)]->Inc(); }

    [[noreturn]] void ThrowOpen() {
        Count(Outcome::kRejectedOpen);
        const auto wait = RetryAfterSeconds(breaker.RetryAfter());
        const std::string why = breaker.State() == BreakerState::kHalfOpen
                                    ? "circuit half-open, its probe calls are out"
                                    : "circuit open " + breaker.OpenReason();
        throw Rejected(
            RejectReason::kCircuitOpen, wait,
            options.name + ": " + why + "; retry in " + std::to_string(wait.count()) + " s");
    }

    [[noreturn]] void ThrowDeadline() {
        Count(Outcome::kDeadline);
        throw Rejected(RejectReason::kDeadlineExceeded, std::chrono::seconds(1),
                       options.name + ": deadline exceeded before the call was sent");
    }

    /// This attempt's timeout: options.timeout cut to the time left before `deadline`.
    milliseconds AttemptTimeout(const std::optional<http::SteadyTime>& deadline) const {
        if (!deadline) return options.timeout;
        const auto left = std::chrono::duration_cast<milliseconds>(*deadline - clock->Now());
        return std::min(options.timeout, left);
    }

    std::shared_ptr<http::Client> client;
    DownstreamOptions options;
    std::shared_ptr<const Clock> clock;
    telemetry::Labels labels;
    telemetry::Counter& retries;
    telemetry::Histogram& duration;
    telemetry::Gauge& state_gauge;
    telemetry::Gauge& in_flight;
    telemetry::Gauge& queued;
    std::array<telemetry::Counter*, static_cast<std::size_t>(Outcome::kCount)> outcomes{};
    std::array<telemetry::Counter*, kStates.size()> transitions{};
    CircuitBreaker breaker;
    Bulkhead bulkhead;
    RetryBudget budget;
};

Downstream::Downstream(std::shared_ptr<http::Client> client, DownstreamOptions options,
                       telemetry::Registry& registry, std::shared_ptr<const Clock> clock)
    : impl_(std::make_unique<Impl>(std::move(client), std::move(options), registry,
                                   std::move(clock))) {}

Downstream::~Downstream() = default;

const std::string& Downstream::Name() const { return impl_->options.name; }
const CircuitBreaker& Downstream::Breaker() const { return impl_->breaker; }
std::size_t Downstream::InFlight() const { return impl_->bulkhead.InFlight(); }
std::size_t Downstream::Queued() const { return impl_->bulkhead.Queued(); }

Task<http::Response> Downstream::Send(Call call) {
    Impl& d = *impl_;
    const bool retryable = call.idempotent || HasIdempotencyKey(call.headers);
    d.budget.OnRequest();
    Backoff backoff(d.options.retry.backoff, NextSeed());
    std::optional<http::Response> last_response;
    std::exception_ptr last_error;
    bool budget_spent = false;
    for (int attempt = 1;; ++attempt) {
        milliseconds timeout = d.AttemptTimeout(call.deadline);
        if (timeout <= milliseconds(0)) {
            if (attempt == 1) d.ThrowDeadline();
            break;
        }
        std::optional<CircuitBreaker::Permit> permit = d.breaker.TryAcquire();
        if (!permit) {
            if (attempt == 1) d.ThrowOpen();
            d.Count(Outcome::kRejectedOpen);
            break;
        }
        if (d.breaker.State() == BreakerState::kHalfOpen)
            timeout = std::min(timeout, d.options.probe_timeout);
        const auto queued_at = d.clock->Now();
        std::optional<Bulkhead::Slot> slot;
        std::exception_ptr full;
        try {
            // The queue waits on Asio timers, which run on the real steady clock.
            slot.emplace(co_await d.bulkhead.Acquire(std::chrono::steady_clock::now() + timeout));
        } catch (const Rejected&) {
            full = std::current_exception();
        }
        if (full) {
            d.Count(Outcome::kRejectedFull);
            if (attempt == 1) std::rethrow_exception(full);
            break;
        }
        // Whole milliseconds spent in the queue come off this attempt's time.
        timeout -= std::chrono::duration_cast<milliseconds>(d.clock->Now() - queued_at);
        if (timeout <= milliseconds(0)) {
            if (attempt == 1) d.ThrowDeadline();
            d.Count(Outcome::kDeadline);
            break;
        }

        auto headers = call.headers;
        std::erase_if(headers, [](const auto& h) {
            return boost::beast::iequals(h.first, http::kTimeoutHeader);
        });
        headers.emplace_back(std::string(http::kTimeoutHeader), std::to_string(timeout.count()));
        const auto sent = d.clock->Now();
        std::optional<http::Response> response;
        std::exception_ptr error;
        std::string peer = d.options.name;  // the client span reads "GET catalog"
        try {
            response = co_await d.client->Send(call.method, call.url, std::move(headers), call.body,
                                               timeout, std::move(peer));
        } catch (const http::ClientError&) {
            error = std::current_exception();
        }
        const auto latency = d.clock->Now() - sent;
        slot.reset();
        const bool failed = error || IsGatewayFailure(response->result());
        permit->Record(latency, !failed);
        d.duration.Observe(std::chrono::duration<double>(latency).count());
        if (!failed) {
            d.Count(Outcome::kOk);
            co_return std::move(*response);
        }
        const bool timed_out = error && latency >= timeout - milliseconds(1);
        d.Count(timed_out ? Outcome::kTimeout : Outcome::kError);
        last_response = std::move(response);
        last_error = error;

        if (!retryable || attempt >= d.options.retry.max_attempts) break;
        if (timed_out && !d.options.retry.retry_timeouts) break;
        const milliseconds wait = backoff.Next();
        if (call.deadline && d.clock->Now() + wait >= *call.deadline) break;
        if (!d.budget.TryRetry()) {
            budget_spent = true;
            break;
        }
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_after(wait);
        co_await timer.async_wait(asio::use_awaitable);
        d.retries.Inc();
    }
    if (last_response) co_return std::move(*last_response);
    if (budget_spent) {
        throw Rejected(RejectReason::kBudget, std::chrono::seconds(1),
                       d.options.name + ": retry budget spent; last attempt: " + What(last_error));
    }
    std::rethrow_exception(last_error);
}

}  // namespace keel::resilience
