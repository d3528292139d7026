#include <keel/core/ambient.hpp>

#include <unistd.h>

#include <gtest/gtest.h>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include <keel/core/log.hpp>
#include <keel/core/offload.hpp>
#include <keel/core/runtime.hpp>
#include <keel/testing/coro_test.hpp>

namespace keel::ambient {
namespace {

std::shared_ptr<const Context> Make(std::string trace, std::string span, std::string correlation) {
    return std::make_shared<const Context>(
        Context{std::move(trace), std::move(span), std::move(correlation), true});
}

std::string CurrentTrace() {
    const Context* c = Current();
    return c ? c->trace_id : std::string("<none>");
}

// Checks its own context after every kind of suspension, while many others run on the
// same threads: timers, posts to the plain io executor, a thread pool and a child coroutine.
Task<void> Worker(std::string trace, asio::thread_pool* pool, std::atomic<int>* mismatches) {
    auto check = [&] {
        if (CurrentTrace() != trace) mismatches->fetch_add(1);
    };
    check();
    for (int i = 0; i < 20; ++i) {
        co_await testing::Sleep(std::chrono::milliseconds(i % 3));
        check();
        const auto executor = co_await asio::this_coro::executor;
        co_await asio::post(executor, asio::use_awaitable);
        check();
        auto on_pool = [] { return CurrentTrace(); };
        const std::string seen_on_pool = co_await Offload(pool->get_executor(), on_pool);
        if (seen_on_pool != "<none>") mismatches->fetch_add(1);  // the pool runs no request
        check();
    }
    auto child = [](std::string expected, std::atomic<int>* bad) -> Task<void> {
        co_await testing::Sleep(std::chrono::milliseconds(1));
        if (CurrentTrace() != expected) bad->fetch_add(1);
    };
    const auto executor = co_await asio::this_coro::executor;
    co_await asio::co_spawn(executor, child(trace, mismatches), asio::use_awaitable);
    check();
}

TEST(Ambient, EachCoroutineSeesItsOwnContextAcrossAwaitsAndThreadHops) {
    asio::thread_pool pool(2);
    std::atomic<int> mismatches{0};
    std::atomic<int> threads_seen{0};
    auto body = [](asio::thread_pool* p, std::atomic<int>* bad,
                   std::atomic<int>* threads) -> Task<void> {
        // The caller clears its context: whatever resumes it inline, it sees none.
        auto all = [](asio::thread_pool* p2, std::atomic<int>* bad2) -> Task<void> {
            std::vector<std::string> traces;
            traces.reserve(40);
            for (int i = 0; i < 40; ++i) traces.push_back(std::string(31, 'a') + char('a' + i % 6));
            auto executor = co_await asio::this_coro::executor;
            std::atomic<int> done{0};
            for (int i = 0; i < 40; ++i) {
                auto ctx = Make(traces[i] + std::to_string(i), "b", "c");
                auto one = [](std::shared_ptr<const Context> c, asio::thread_pool* p3,
                              std::atomic<int>* bad3, std::atomic<int>* finished) -> Task<void> {
                    const std::string trace = c->trace_id;
                    co_await ambient::Run(c, Worker(trace, p3, bad3));
                    if (Current() != nullptr) bad3->fetch_add(1);
                    finished->fetch_add(1);
                };
                Spawn(With(executor, nullptr), one(ctx, p2, bad2, &done), "ambient test");
            }
            while (done.load() < 40) co_await testing::Sleep(std::chrono::milliseconds(5));
        };
        co_await all(p, bad);
        threads->store(1);
    };
    testing::RunCoro(body(&pool, &mismatches, &threads_seen), 4);
    pool.join();
    EXPECT_EQ(threads_seen.load(), 1);
    EXPECT_EQ(mismatches.load(), 0);
}

TEST(Ambient, ExceptionsOfTheChildReachTheCaller) {
    auto body = []() -> Task<void> {
        auto failing = []() -> Task<void> {
            co_await testing::Sleep(std::chrono::milliseconds(1));
            throw std::runtime_error("from the child");
        };
        std::string caught;
        try {
            co_await ambient::Run(Make("t", "s", "c"), failing());
        } catch (const std::runtime_error& e) {
            caught = e.what();
        }
        EXPECT_EQ(caught, "from the child");
    };
    testing::RunCoro(body());
}

// Captures what log::Write sends to stderr (fd 2) while `fn` runs.
template <typename F>
std::string CaptureStderr(F fn) {
    std::fflush(stderr);
    char path[] = "/tmp/keel-ambient-test-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) return "mkstemp failed";
    const int saved = ::dup(STDERR_FILENO);
    if (saved < 0) return "dup failed";
    ::dup2(fd, STDERR_FILENO);
    fn();
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    std::string out;
    ::lseek(fd, 0, SEEK_SET);
    char buffer[4096];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) out.append(buffer, n);
    ::close(fd);
    ::unlink(path);
    return out;
}

TEST(Ambient, LogLinesCarryTheCurrentTraceUnlessTheyNameTheirOwn) {
    const auto context = Make("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "req-1");
    const std::string lines = CaptureStderr([&] {
        log::Info("outside");
        Scope scope(context.get());
        log::Info("inside", {{"k", std::string_view("v")}});
        log::Info("own span", {{"span_id", std::string_view("00f067aa0ba902b7")}});
    });
    const auto first_end = lines.find('\n');
    const std::string outside = lines.substr(0, first_end);
    EXPECT_EQ(outside.find("trace_id"), std::string::npos) << outside;
    EXPECT_NE(lines.find(R"("msg":"inside","trace_id":"0af7651916cd43dd8448eb211c80319c",)"
                         R"("span_id":"b7ad6b7169203331","correlation_id":"req-1","k":"v")"),
              std::string::npos)
        << lines;
    EXPECT_NE(lines.find(R"("msg":"own span","trace_id":"0af7651916cd43dd8448eb211c80319c",)"
                         R"("correlation_id":"req-1","span_id":"00f067aa0ba902b7")"),
              std::string::npos)
        << lines;
    EXPECT_EQ(Current(), nullptr);
}

}  // namespace
}  // namespace keel::ambient
