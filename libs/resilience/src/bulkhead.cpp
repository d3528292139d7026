#include <keel/resilience/bulkhead.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>

#include <algorithm>
#include <deque>
#include <mutex>

#include <keel/resilience/rejected.hpp>
#include <keel/telemetry/metrics.hpp>

namespace keel::resilience {

namespace {

struct Waiter {
    explicit Waiter(asio::any_io_executor executor) : timer(std::move(executor)) {}
    asio::steady_timer timer;
    bool granted = false;  // under State::mutex: the releaser handed its slot over
};

}  // namespace

struct Bulkhead::Slot::State {
    std::string name;
    BulkheadOptions options;
    telemetry::Gauge* in_flight_gauge;
    telemetry::Gauge* queued_gauge;

    std::mutex mutex;
    std::size_t in_flight = 0;
    std::deque<std::shared_ptr<Waiter>> queue;

    void Publish() {
        if (in_flight_gauge) in_flight_gauge->Set(static_cast<std::int64_t>(in_flight));
        if (queued_gauge) queued_gauge->Set(static_cast<std::int64_t>(queue.size()));
    }

    void Release() {
        std::shared_ptr<Waiter> next;
        {
            std::lock_guard lock(mutex);
            if (queue.empty()) {
                --in_flight;
            } else {
                next = std::move(queue.front());
                queue.pop_front();
                next->granted = true;  // the slot passes on: in_flight stays
            }
            Publish();
        }
        if (next) {
            // The timer belongs to the waiter's executor (maybe a strand): cancel it there.
            auto executor = next->timer.get_executor();
            asio::post(executor, [next] { next->timer.cancel(); });
        }
    }

    bool Leave(const std::shared_ptr<Waiter>& waiter) {
        std::lock_guard lock(mutex);
        if (waiter->granted) return false;
        queue.erase(std::find(queue.begin(), queue.end(), waiter));
        Publish();
        return true;
    }
};

Bulkhead::Slot& Bulkhead::Slot::operator=(Slot&& other) noexcept {
    if (this != &other) {
        if (state_) state_->Release();
        state_ = std::move(other.state_);
    }
    return *this;
}

Bulkhead::Slot::~Slot() {
    if (state_) state_->Release();
}

Bulkhead::Bulkhead(std::string name, BulkheadOptions options, telemetry::Gauge* in_flight,
                   telemetry::Gauge* queued)
    : state_(std::make_shared<Slot::State>()) {
    state_->name = std::move(name);
    state_->options = options;
    state_->in_flight_gauge = in_flight;
    state_->queued_gauge = queued;
}

Bulkhead::~Bulkhead() = default;

Task<Bulkhead::Slot> Bulkhead::Acquire(http::SteadyTime deadline) {
    auto state = state_;
    auto waiter = std::make_shared<Waiter>(co_await asio::this_coro::executor);
    {
        std::lock_guard lock(state->mutex);
        if (state->in_flight < std::max<std::size_t>(1, state->options.max_concurrent)) {
            ++state->in_flight;
            state->Publish();
            co_return Slot(state);
        }
        if (state->queue.size() >= state->options.max_queue) {
            throw Rejected(RejectReason::kBulkheadFull, std::chrono::seconds(1),
                           state->name + ": bulkhead full (" + std::to_string(state->in_flight) +
                               " calls in flight, " + std::to_string(state->queue.size()) +
                               " queued)");
        }
        waiter->timer.expires_at(
            std::min(deadline, std::chrono::steady_clock::now() + state->options.max_wait));
        state->queue.push_back(waiter);
        state->Publish();
    }
    boost::system::error_code ec;
    co_await waiter->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!state->Leave(waiter)) co_return Slot(state);
    // Woken without a slot: the wait ran out, or the coroutine was cancelled.
    auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
    if (cancelled != asio::cancellation_type::none)
        throw boost::system::system_error(asio::error::operation_aborted);
    throw Rejected(RejectReason::kBulkheadFull, std::chrono::seconds(1),
                   state->name + ": no bulkhead slot within the wait (all " +
                       std::to_string(state->options.max_concurrent) + " busy)");
}

std::size_t Bulkhead::InFlight() const {
    std::lock_guard lock(state_->mutex);
    return state_->in_flight;
}

std::size_t Bulkhead::Queued() const {
    std::lock_guard lock(state_->mutex);
    return state_->queue.size();
}

}  // namespace keel::resilience
