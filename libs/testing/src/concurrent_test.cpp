#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>

#include <atomic>
#include <stdexcept>

namespace keel::testing {
namespace {

// Waits (yielding) until `flag` is set by another task: only possible when both run at once.
Task<void> WaitFor(const std::atomic<bool>& flag) {
    for (int i = 0; i < 500 && !flag; ++i) co_await Sleep(std::chrono::milliseconds(2));
    if (!flag) throw std::runtime_error("the other task never ran");
}

Task<void> Set(std::atomic<bool>& flag) {
    co_await Sleep(std::chrono::milliseconds(10));
    flag = true;
}

KEEL_CORO_TEST(RunConcurrently, RunsAllAtOnceAndWaitsForAll) {
    std::atomic<bool> a = false;
    std::atomic<bool> b = false;
    std::vector<Task<void>> tasks;
    tasks.push_back(WaitFor(b));  // waits for the task started after it
    tasks.push_back(Set(b));
    tasks.push_back(Set(a));
    co_await RunConcurrently(std::move(tasks));
    EXPECT_TRUE(a);
    EXPECT_TRUE(b);
    std::vector<Task<void>> none;
    co_await RunConcurrently(std::move(none));  // returns at once
}

Task<void> FailAfter(std::chrono::milliseconds delay, std::string what) {
    co_await Sleep(delay);
    throw std::runtime_error(what);
}

Task<void> Finish(std::chrono::milliseconds delay, std::atomic<int>& finished) {
    co_await Sleep(delay);
    ++finished;
}

KEEL_CORO_TEST(RunConcurrently, RethrowsTheFirstFailureOnceAllFinished) {
    std::atomic<int> finished = 0;
    std::vector<Task<void>> tasks;
    tasks.push_back(FailAfter(std::chrono::milliseconds(40), "second"));
    tasks.push_back(Finish(std::chrono::milliseconds(80), finished));
    tasks.push_back(FailAfter(std::chrono::milliseconds(5), "first"));
    tasks.push_back(Finish(std::chrono::milliseconds(1), finished));
    std::string error;
    try {
        co_await RunConcurrently(std::move(tasks));
    } catch (const std::runtime_error& e) {
        error = e.what();
    }
    EXPECT_EQ(error, "first");
    EXPECT_EQ(finished, 2);
}

Task<void> Count(std::atomic<int>& count) {
    co_await Sleep(std::chrono::milliseconds(1));
    ++count;
}

Task<void> CountTo200(std::atomic<int>* count) {
    std::vector<Task<void>> tasks;
    tasks.reserve(200);
    for (int i = 0; i < 200; ++i) tasks.push_back(Count(*count));
    co_await RunConcurrently(std::move(tasks));
    EXPECT_EQ(*count, 200);
}

TEST(RunConcurrently, WorksOnSeveralThreads) {
    std::atomic<int> count = 0;
    RunCoro(CountTo200(&count), 4);
    EXPECT_EQ(count, 200);
}

}  // namespace
}  // namespace keel::testing
