#include <keel/testing/concurrent.hpp>

#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>

namespace keel::testing {

Task<void> RunConcurrently(std::vector<Task<void>> tasks) {
    if (tasks.empty()) co_return;
    const auto executor = co_await asio::this_coro::executor;
    using Spawned = decltype(asio::co_spawn(executor, std::move(tasks.front()), asio::deferred));
    std::vector<Spawned> spawned;
    spawned.reserve(tasks.size());
    for (auto& task : tasks)
        spawned.push_back(asio::co_spawn(executor, std::move(task), asio::deferred));
    auto group = asio::experimental::make_parallel_group(std::move(spawned));
    // No structured bindings in coroutines (GCC 12).
    const auto outcome =
        co_await group.async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    const auto& order = std::get<0>(outcome);
    const auto& errors = std::get<1>(outcome);
    for (const std::size_t index : order) {
        if (errors[index]) std::rethrow_exception(errors[index]);
    }
}

}  // namespace keel::testing
