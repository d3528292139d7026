#include <keel/testing/coro_test.hpp>

#include <boost/asio/steady_timer.hpp>

#include <thread>
#include <vector>

namespace keel::testing {

void RunCoro(Task<void> task, std::size_t threads) {
    asio::io_context context;
    std::exception_ptr failure;
    bool finished = false;
    asio::co_spawn(context, std::move(task), [&](std::exception_ptr error) {
        failure = std::move(error);
        finished = true;
        context.stop();
    });
    std::vector<std::thread> workers;
    for (std::size_t i = 1; i < threads; ++i) workers.emplace_back([&] { context.run(); });
    context.run();
    for (auto& w : workers) w.join();
    if (!finished) {
        ADD_FAILURE() << "coroutine test did not finish";
        return;
    }
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "coroutine test threw: " << e.what();
        } catch (...) {
            ADD_FAILURE() << "coroutine test threw a non-exception";
        }
    }
}

Task<void> Sleep(std::chrono::milliseconds duration) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(duration);
    co_await timer.async_wait(asio::use_awaitable);
}

Task<bool> WaitUntil(std::function<Task<bool>()> done, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (co_await done()) co_return true;
        co_await Sleep(std::chrono::milliseconds(20));
    }
    co_return false;
}

}  // namespace keel::testing
