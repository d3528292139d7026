#pragma once
#include <exception>
#include <optional>
#include <stdexcept>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>

#include <keel/core/asio.hpp>

namespace keel {

/// Runs the CPU-heavy `fn` (password hashing, ...) on `executor` (a thread pool) and
/// resumes the caller on its own executor, so io threads keep serving meanwhile.
/// Exceptions from `fn` propagate to the caller. `fn` must return a value.
template <typename Executor, typename F>
auto Offload(Executor executor, F fn) -> Task<decltype(fn())> {
    // Plain post + handler rather than co_spawn: GCC 12 miscompiles co_spawn's
    // value-returning entry point (the result is freed twice).
    std::optional<decltype(fn())> result;
    std::exception_ptr error;
    co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
        [&](auto handler) {
            asio::post(executor, [&, handler = std::move(handler)]() mutable {
                try {
                    result.emplace(fn());
                } catch (...) {
                    error = std::current_exception();
                }
                auto home = asio::get_associated_executor(handler);
                asio::post(home, std::move(handler));
            });
        },
        asio::use_awaitable);
    if (error) std::rethrow_exception(error);
    if (!result) throw std::logic_error("Offload: resumed without a result");
    co_return std::move(*result);
}

}  // namespace keel
