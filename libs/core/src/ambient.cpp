#include <keel/core/ambient.hpp>

namespace keel::ambient {
namespace {
thread_local const Context* t_current = nullptr;
}  // namespace

const Context* Current() noexcept { return t_current; }

Scope::Scope(const Context* context) noexcept : previous_(t_current) { t_current = context; }

Scope::~Scope() { t_current = previous_; }

asio::any_io_executor With(const asio::any_io_executor& executor,
                           std::shared_ptr<const Context> context) {
    const auto* wrapped = executor.target<Executor>();
    return Executor(wrapped ? wrapped->Inner() : executor, std::move(context));
}

Task<void> Run(std::shared_ptr<const Context> context, Task<void> task) {
    const asio::any_io_executor parent = co_await asio::this_coro::executor;
    const asio::any_io_executor child = With(parent, std::move(context));
    // co_spawn completes through the caller's executor; a caller whose executor is not an
    // ambient one resumes inline with this context still current until it next suspends,
    // which is why long-lived callers (server sessions, consumer batches) run on With(ex, null).
    co_await asio::co_spawn(child, std::move(task), asio::use_awaitable);
}

}  // namespace keel::ambient
