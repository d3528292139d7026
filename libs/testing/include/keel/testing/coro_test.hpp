#pragma once
#include <gtest/gtest.h>

#include <chrono>
#include <functional>

#include <keel/core/asio.hpp>

namespace keel::testing {

/// Runs `task` to completion on a fresh io_context with `threads` threads; an
/// exception from it fails the test with its message.
void RunCoro(Task<void> task, std::size_t threads = 1);

/// Waits `duration` on the calling coroutine's executor.
Task<void> Sleep(std::chrono::milliseconds duration);

/// Polls `done` every 20 ms until it is true (true) or `limit` passed (false).
Task<bool> WaitUntil(std::function<Task<bool>()> done,
                     std::chrono::seconds limit = std::chrono::seconds(20));

}  // namespace keel::testing

/// A gtest test whose body is a coroutine: `KEEL_CORO_TEST(Pool, Reconnects) { co_await ...; }`.
/// ASSERT_* cannot be used inside (it returns); use EXPECT_* and co_return.
#define KEEL_CORO_TEST(suite, name)                                                \
    struct suite##_##name##_Coro {                                                 \
        static ::keel::Task<void> Body();                                          \
    };                                                                             \
    TEST(suite, name) { ::keel::testing::RunCoro(suite##_##name##_Coro::Body()); } \
    ::keel::Task<void> suite##_##name##_Coro::Body()
