#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <keel/core/asio.hpp>
#include <keel/http/deadline.hpp>

namespace keel::telemetry {
class Gauge;
}

namespace keel::resilience {

struct BulkheadOptions {
    /// Calls that may run at once.
    std::size_t max_concurrent = 64;
    /// Calls that may wait for one of those; past it a call is refused at once.
    std::size_t max_queue = 64;
    /// The longest a call waits in the queue (less when its deadline comes first).
    std::chrono::milliseconds max_wait{1000};
};

/// Bounds the calls in flight to one downstream and the queue behind them, so that a slow
/// dependency holds at most max_concurrent + max_queue coroutines (and connections) instead of
/// every one the server has. Waiters are served first come, first served.
/// Thread-safe; callers may run on any executor (each waits on a timer of its own executor).
/// Slots may outlive the Bulkhead.
class Bulkhead final {
public:
    /// One call's place; releasing it (destruction) hands it to the next waiter.
    class Slot final {
    public:
        Slot(Slot&& other) noexcept = default;
        Slot& operator=(Slot&& other) noexcept;
        Slot(const Slot&) = delete;
        ~Slot();

    private:
        friend class Bulkhead;
        struct State;
        explicit Slot(std::shared_ptr<State> state) : state_(std::move(state)) {}
        std::shared_ptr<State> state_;
    };

    /// `name` is the downstream's, for error messages; the gauges (optional, not owned, must
    /// outlive the bulkhead) follow the calls in flight and queued.
    Bulkhead(std::string name, BulkheadOptions options, telemetry::Gauge* in_flight = nullptr,
             telemetry::Gauge* queued = nullptr);
    ~Bulkhead();
    Bulkhead(const Bulkhead&) = delete;
    Bulkhead& operator=(const Bulkhead&) = delete;

    /// A slot now, or after waiting in the queue until max_wait or `deadline`. Throws
    /// Rejected(kBulkheadFull) at once when the queue is full, or when the wait runs out.
    /// Cancelling the awaiting coroutine leaves the queue and throws the cancellation.
    Task<Slot> Acquire(http::SteadyTime deadline);

    std::size_t InFlight() const;
    std::size_t Queued() const;

private:
    std::shared_ptr<Slot::State> state_;
};

}  // namespace keel::resilience
