#pragma once
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/asio/execution.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>

#include <keel/core/asio.hpp>

/// The ambient context of a piece of work (one request, one event's handling): the trace
/// and correlation ids that every log line written for it carries (keel::log adds them)
/// and that outgoing calls continue (keel::http::Client).
///
/// Why an executor and not a thread_local set once per request: a coroutine resumes on
/// whichever io thread runs its completion, and one thread interleaves the resumptions of
/// many requests. ambient::Executor wraps the coroutine's executor and makes the context
/// current around every function it runs, i.e. around each resumption, on whatever thread,
/// and restores the previous one after; Asio sends every completion of an operation started
/// by the coroutine (timers, sockets, Beast, libpq's descriptors, co_spawn) through the
/// handler's associated executor, which is this one. Child coroutines spawned on
/// `this_coro::executor` inherit it.
namespace keel::ambient {

struct Context {
    std::string trace_id;        ///< 32 lower-case hex digits; "" when there is no trace
    std::string span_id;         ///< 16 lower-case hex digits: the span doing the work
    std::string correlation_id;  ///< the request id, or the bus correlation id of an event
    bool sampled = true;         ///< W3C trace-flags bit 0: spans are exported
};

/// The context current on this thread, or null. Valid until the running function returns
/// to its executor: copy what must outlive a co_await.
const Context* Current() noexcept;

/// Makes `context` (may be null: none) current on this thread for its lifetime, then
/// restores the previous one. Not for coroutines (a co_await may move them to another
/// thread): use Run.
class Scope final {
public:
    explicit Scope(const Context* context) noexcept;
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

private:
    const Context* previous_;
};

/// An executor that runs everything on `inner` with `context` current (see above).
/// Copies share the context, which is immutable. Satisfies asio::any_io_executor.
class Executor final {
public:
    Executor(asio::any_io_executor inner, std::shared_ptr<const Context> context) noexcept
        : inner_(std::move(inner)), context_(std::move(context)) {}

    const asio::any_io_executor& Inner() const noexcept { return inner_; }
    const std::shared_ptr<const Context>& GetContext() const noexcept { return context_; }

    template <typename Property>
    requires asio::can_query<const asio::any_io_executor&, Property>::value decltype(auto) query(
        const Property& property) const {
        return asio::query(inner_, property);
    }

    template <typename Property>
    requires asio::can_require<const asio::any_io_executor&, Property>::value Executor
    require(const Property& property)
    const { return Executor(asio::require(inner_, property), context_); }

    template <typename Property>
    requires asio::can_prefer<const asio::any_io_executor&, Property>::value Executor
    prefer(const Property& property)
    const { return Executor(asio::prefer(inner_, property), context_); }

    template <typename Function>
    void execute(Function&& f) const {
        // The shared_ptr, not a raw pointer: `f` may destroy the coroutine that owns the
        // last other copy, and code after that in `f` may still log.
        inner_.execute([context = context_, f = std::forward<Function>(f)]() mutable {
            Scope scope(context.get());
            std::move(f)();
        });
    }

    friend bool operator==(const Executor& a, const Executor& b) noexcept {
        return a.inner_ == b.inner_ && a.context_ == b.context_;
    }
    friend bool operator!=(const Executor& a, const Executor& b) noexcept { return !(a == b); }

private:
    asio::any_io_executor inner_;
    std::shared_ptr<const Context> context_;
};

/// `executor` with `context`: an ambient::Executor's inner executor is taken, not wrapped
/// twice. A null context clears the ambient context in the coroutines run on it (a
/// long-lived loop that must not inherit the context of what resumed it inline).
asio::any_io_executor With(const asio::any_io_executor& executor,
                           std::shared_ptr<const Context> context);

/// Runs `task` as a child coroutine on the caller's executor with `context` current in
/// every one of its resumptions, and returns (or rethrows) when it ends. Cancellation of
/// the caller reaches the child.
Task<void> Run(std::shared_ptr<const Context> context, Task<void> task);

}  // namespace keel::ambient
