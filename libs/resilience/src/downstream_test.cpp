// Downstream against real misbehaving HTTP servers on 127.0.0.1: refusing, hanging, slow,
// failing. The servers run on their own io thread; the calls on the test's.
#include <keel/resilience/downstream.hpp>

#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <atomic>
#include <mutex>
#include <thread>

#include <keel/http/client.hpp>
#include <keel/resilience/rejected.hpp>
#include <keel/testing/coro_test.hpp>

namespace keel::resilience {
namespace {

using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;

enum class Mode { kOk, kFail503, kHang, kSlow };

// An HTTP/1.1 server that answers as `mode` says and records what it saw.
class MisbehavingServer {
public:
    explicit MisbehavingServer(Mode mode, std::chrono::milliseconds delay = 0ms)
        : mode_(mode),
          delay_(delay),
          acceptor_(context_, {asio::ip::make_address("127.0.0.1"), 0}) {
        asio::co_spawn(context_, Accept(), Failed);
        io_ = std::thread([this] { context_.run(); });
    }
    ~MisbehavingServer() {
        context_.stop();
        io_.join();
    }
    std::string Url(std::string_view path = "/x") const {
        return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) +
               std::string(path);
    }
    void SetMode(Mode mode) { mode_ = mode; }
    int Requests() const { return requests_; }
    int PeakConcurrent() const { return peak_; }
    std::vector<long> TimeoutHeaders() const {
        std::lock_guard lock(mutex_);
        return timeout_headers_;
    }

private:
    static void Failed(std::exception_ptr error) {
        if (error) ADD_FAILURE() << "the test server failed";
    }

    Task<void> Accept() {
        for (;;) {
            tcp::socket socket = co_await acceptor_.async_accept(asio::use_awaitable);
            asio::co_spawn(context_, Serve(std::move(socket)), Failed);
        }
    }

    Task<void> Serve(tcp::socket socket) {
        boost::beast::flat_buffer buffer;
        for (;;) {
            http::Request request;
            boost::system::error_code ec;
            co_await boost::beast::http::async_read(socket, buffer, request,
                                                    asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return;
            Record(request);
            const int now = ++concurrent_;
            for (int peak = peak_; now > peak && !peak_.compare_exchange_weak(peak, now);) {
            }
            asio::steady_timer timer(socket.get_executor());
            const Mode mode = mode_;
            if (mode == Mode::kHang || mode == Mode::kSlow) {
                timer.expires_after(mode == Mode::kHang ? std::chrono::milliseconds(1h) : delay_);
                co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            }
            --concurrent_;
            http::Response response{
                mode == Mode::kFail503 ? http::Status::service_unavailable : http::Status::ok, 11};
            response.body() = "{}";
            response.prepare_payload();
            response.keep_alive(true);
            co_await boost::beast::http::async_write(socket, response,
                                                     asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return;
        }
    }

    void Record(const http::Request& request) {
        ++requests_;
        auto it = request.find(http::kTimeoutHeader);
        std::lock_guard lock(mutex_);
        timeout_headers_.push_back(it == request.end() ? -1 : std::stol(std::string(it->value())));
    }

    std::atomic<Mode> mode_;
    std::chrono::milliseconds delay_;
    asio::io_context context_;
    tcp::acceptor acceptor_;
    std::thread io_;
    std::atomic<int> requests_{0};
    std::atomic<int> concurrent_{0};
    std::atomic<int> peak_{0};
    mutable std::mutex mutex_;
    std::vector<long> timeout_headers_;
};

// A port nobody listens on: connections to it are refused.
std::string RefusingUrl() {
    asio::io_context context;
    tcp::acceptor acceptor(context, {asio::ip::make_address("127.0.0.1"), 0});
    const auto port = acceptor.local_endpoint().port();
    acceptor.close();
    return "http://127.0.0.1:" + std::to_string(port) + "/x";
}

DownstreamOptions FastOptions() {
    DownstreamOptions o;
    o.name = "catalog";
    o.timeout = 500ms;
    o.retry.backoff = BackoffOptions{1ms, 5ms, Jitter::kFull};
    return o;
}

struct Fixture {
    Fixture(asio::any_io_executor ex, DownstreamOptions options,
            std::shared_ptr<const Clock> clock = SteadyClock())
        : client(std::make_shared<http::Client>(ex)),
          downstream(client, std::move(options), registry, std::move(clock)) {}
    std::uint64_t Outcome(const std::string& outcome) {
        return registry
            .GetCounter("keel_downstream_requests_total", "",
                        {{"downstream", "catalog"}, {"outcome", outcome}})
            .Value();
    }
    std::uint64_t Retries() {
        return registry.GetCounter("keel_downstream_retries_total", "", {{"downstream", "catalog"}})
            .Value();
    }
    telemetry::Registry registry;
    std::shared_ptr<http::Client> client;
    Downstream downstream;
};

Downstream::Call Get(std::string url) {
    Downstream::Call call;
    call.url = std::move(url);
    call.idempotent = true;
    return call;
}

// Sends `call`; the Rejected reason if it threw one, "client_error" for a ClientError, or
// the status code.
Task<std::string> Outcome(Downstream& downstream, Downstream::Call call) {
    try {
        http::Response response = co_await downstream.Send(std::move(call));
        co_return std::to_string(response.result_int());
    } catch (const Rejected& e) {
        co_return std::string(ToString(e.Reason()));
    } catch (const http::ClientError&) {
        co_return "client_error";
    }
}

KEEL_CORO_TEST(Downstream, ARefusingServerOpensTheBreakerThenCallsFailInMicroseconds) {
    auto options = FastOptions();
    options.retry.max_attempts = 1;
    Fixture f(co_await asio::this_coro::executor, options);
    const std::string url = RefusingUrl();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(co_await Outcome(f.downstream, Get(url)), "client_error");
    EXPECT_EQ(f.downstream.Breaker().State(), BreakerState::kOpen);

    const auto started = Steady::now();
    std::string what;
    std::chrono::seconds retry_after{0};
    try {
        co_await f.downstream.Send(Get(url));
    } catch (const Rejected& e) {
        what = e.what();
        retry_after = e.RetryAfter();
    }
    const auto took = Steady::now() - started;
    EXPECT_LT(took, 1ms);
    EXPECT_EQ(what, "catalog: circuit open after 5 consecutive failures; retry in 5 s");
    EXPECT_EQ(retry_after, 5s);
    EXPECT_EQ(f.Outcome("error"), 5u);
    EXPECT_EQ(f.Outcome("rejected_open"), 1u);
    const std::string metrics = f.registry.Render();
    EXPECT_NE(metrics.find("keel_breaker_state{downstream=\"catalog\"} 2"), std::string::npos);
    EXPECT_NE(metrics.find("keel_breaker_transitions_total{downstream=\"catalog\",to=\"open\"} 1"),
              std::string::npos);
}

KEEL_CORO_TEST(Downstream, A503IsAFailureRetriedWhenIdempotentAndFinallyReturned) {
    MisbehavingServer server(Mode::kFail503);
    auto options = FastOptions();
    options.breaker.consecutive_failures = 6;
    Fixture f(co_await asio::this_coro::executor, options);
    EXPECT_EQ(co_await Outcome(f.downstream, Get(server.Url())), "503");
    EXPECT_EQ(server.Requests(), 3);
    EXPECT_EQ(f.Retries(), 2u);
    EXPECT_EQ(f.Outcome("error"), 3u);
    EXPECT_EQ(f.downstream.Breaker().State(), BreakerState::kClosed);
    EXPECT_EQ(co_await Outcome(f.downstream, Get(server.Url())), "503");
    // The sixth consecutive failure opened it: the third attempt is refused.
    EXPECT_EQ(server.Requests(), 6);
    EXPECT_EQ(f.downstream.Breaker().State(), BreakerState::kOpen);
    EXPECT_EQ(co_await Outcome(f.downstream, Get(server.Url())), "circuit_open");
    EXPECT_EQ(server.Requests(), 6);
}

KEEL_CORO_TEST(Downstream, APostIsRetriedOnlyWithAnIdempotencyKey) {
    MisbehavingServer server(Mode::kFail503);
    Fixture f(co_await asio::this_coro::executor, FastOptions());
    Downstream::Call post;
    post.method = http::Verb::post;
    post.url = server.Url("/orders");
    post.body = "{}";
    EXPECT_EQ(co_await Outcome(f.downstream, post), "503");
    EXPECT_EQ(server.Requests(), 1);
    post.headers.emplace_back("Idempotency-Key", "k-1");
    EXPECT_EQ(co_await Outcome(f.downstream, post), "503");
    EXPECT_EQ(server.Requests(), 4);
}

KEEL_CORO_TEST(Downstream, ARefusedConnectionIsRetriedForAGet) {
    Fixture f(co_await asio::this_coro::executor, FastOptions());
    EXPECT_EQ(co_await Outcome(f.downstream, Get(RefusingUrl())), "client_error");
    EXPECT_EQ(f.Retries(), 2u);
    EXPECT_EQ(f.Outcome("error"), 3u);
}

KEEL_CORO_TEST(Downstream, TheServerSeesTheRemainingBudgetAsTimeoutHeader) {
    MisbehavingServer server(Mode::kOk);
    auto options = FastOptions();
    options.timeout = 2000ms;
    Fixture f(co_await asio::this_coro::executor, options);
    auto call = Get(server.Url());
    call.headers.emplace_back(std::string(http::kTimeoutHeader), "99999");  // replaced
    call.deadline = Steady::now() + 300ms;
    EXPECT_EQ(co_await Outcome(f.downstream, call), "200");
    call.deadline.reset();
    EXPECT_EQ(co_await Outcome(f.downstream, call), "200");
    const auto seen = server.TimeoutHeaders();
    EXPECT_EQ(seen.size(), 2u);
    if (seen.size() == 2) {
        EXPECT_LE(seen[0], 300);
        EXPECT_GT(seen[0], 250);
        EXPECT_EQ(seen[1], 2000) << "without a deadline: the downstream's own timeout";
    }
    EXPECT_EQ(f.Outcome("ok"), 2u);
}

KEEL_CORO_TEST(Downstream, ACallWhoseDeadlinePassedNeverReachesTheServer) {
    MisbehavingServer server(Mode::kOk);
    Fixture f(co_await asio::this_coro::executor, FastOptions());
    auto call = Get(server.Url());
    call.deadline = Steady::now() - 1ms;
    EXPECT_EQ(co_await Outcome(f.downstream, call), "deadline_exceeded");
    EXPECT_EQ(server.Requests(), 0);
    EXPECT_EQ(f.Outcome("deadline"), 1u);
}

KEEL_CORO_TEST(Downstream, NoRetryWhenTheBackoffWouldPassTheDeadline) {
    MisbehavingServer server(Mode::kFail503);
    auto options = FastOptions();
    options.retry.backoff = BackoffOptions{400ms, 400ms, Jitter::kDecorrelated};
    Fixture f(co_await asio::this_coro::executor, options);
    auto call = Get(server.Url());
    call.deadline = Steady::now() + 200ms;
    const auto started = Steady::now();
    EXPECT_EQ(co_await Outcome(f.downstream, call), "503");
    EXPECT_LT(Steady::now() - started, 200ms);
    EXPECT_EQ(server.Requests(), 1);
}

KEEL_CORO_TEST(Downstream, ASpentRetryBudgetStopsRetries) {
    auto options = FastOptions();
    options.retry.budget = RetryBudgetOptions{0.0, 0.0, 10s};
    Fixture f(co_await asio::this_coro::executor, options);
    std::string what;
    try {
        co_await f.downstream.Send(Get(RefusingUrl()));
    } catch (const Rejected& e) {
        EXPECT_EQ(e.Reason(), RejectReason::kBudget);
        what = e.what();
    }
    EXPECT_EQ(what.rfind("catalog: retry budget spent; last attempt: connect", 0), 0u) << what;
    EXPECT_EQ(f.Outcome("error"), 1u);
}

KEEL_CORO_TEST(Downstream, SlowAnswersOpenTheBreaker) {
    MisbehavingServer server(Mode::kSlow, 60ms);
    auto options = FastOptions();
    options.breaker.slow_call = 40ms;
    options.breaker.consecutive_failures = 3;
    Fixture f(co_await asio::this_coro::executor, options);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(co_await Outcome(f.downstream, Get(server.Url())), "200");
    EXPECT_EQ(f.downstream.Breaker().State(), BreakerState::kOpen);
    EXPECT_EQ(f.Outcome("ok"), 3u) << "the caller got its answers";
}

KEEL_CORO_TEST(Downstream, AHalfOpenProbeThatSucceedsClosesTheBreaker) {
    MisbehavingServer server(Mode::kFail503);
    auto clock = std::make_shared<ManualClock>();
    auto options = FastOptions();
    options.retry.max_attempts = 1;
    options.breaker.half_open_probes = 1;
    Fixture f(co_await asio::this_coro::executor, options, clock);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(co_await Outcome(f.downstream, Get(server.Url())), "503");
    EXPECT_EQ(co_await Outcome(f.downstream, Get(server.Url())), "circuit_open");
    server.SetMode(Mode::kOk);
    clock->Advance(5s);
    EXPECT_EQ(co_await Outcome(f.downstream, Get(server.Url())), "200");
    EXPECT_EQ(f.downstream.Breaker().State(), BreakerState::kClosed);
    EXPECT_NE(f.registry.Render().find("keel_breaker_state{downstream=\"catalog\"} 0"),
              std::string::npos);
}

// A hung downstream: an attempt that ran out of time is not tried again (the caller would
// only wait twice), and once the breaker is half-open its probe waits probe_timeout only.
KEEL_CORO_TEST(Downstream, AHungServerIsNotRetriedAndItsProbeIsShort) {
    MisbehavingServer server(Mode::kHang);
    auto options = FastOptions();  // 500 ms a attempt, 3 attempts
    options.probe_timeout = 50ms;
    options.breaker.consecutive_failures = 1;
    options.breaker.open_for = 100ms;
    options.breaker.max_open_for = 100ms;
    options.breaker.half_open_probes = 1;
    Fixture f(co_await asio::this_coro::executor, options);
    auto started = Steady::now();
    EXPECT_EQ(co_await Outcome(f.downstream, Get(server.Url())), "client_error");
    EXPECT_LT(Steady::now() - started, 900ms) << "a timed-out GET was retried";
    EXPECT_EQ(server.Requests(), 1);
    EXPECT_EQ(f.downstream.Breaker().State(), BreakerState::kOpen);
    EXPECT_EQ(co_await Outcome(f.downstream, Get(server.Url())), "circuit_open");

    co_await testing::Sleep(150ms);
    started = Steady::now();
    EXPECT_EQ(co_await Outcome(f.downstream, Get(server.Url())), "client_error");
    const auto probe = Steady::now() - started;
    EXPECT_GE(probe, 45ms);
    EXPECT_LT(probe, 300ms) << "the probe waited the whole timeout";
    EXPECT_EQ(f.downstream.Breaker().State(), BreakerState::kOpen);
}

KEEL_CORO_TEST(Downstream, TheBulkheadCapsCallsToAHangingServer) {
    MisbehavingServer server(Mode::kHang);
    auto options = FastOptions();
    options.timeout = 300ms;
    options.retry.max_attempts = 1;
    options.bulkhead = BulkheadOptions{2, 1, 1000ms};
    Fixture f(co_await asio::this_coro::executor, options);
    auto ex = co_await asio::this_coro::executor;
    std::vector<std::string> results;
    for (int i = 0; i < 3; ++i) {
        asio::co_spawn(ex, Outcome(f.downstream, Get(server.Url())),
                       [&results](std::exception_ptr e, std::string outcome) {
                           results.push_back(e ? "threw" : outcome);
                       });
    }
    auto queued = [&f]() -> Task<bool> {
        co_return f.downstream.InFlight() == 2 && f.downstream.Queued() == 1;
    };
    EXPECT_TRUE(co_await testing::WaitUntil(queued, 5s));
    EXPECT_EQ(co_await Outcome(f.downstream, Get(server.Url())), "bulkhead_full");
    EXPECT_EQ(f.Outcome("rejected_full"), 1u);
    auto finished = [&results]() -> Task<bool> { co_return results.size() == 3; };
    EXPECT_TRUE(co_await testing::WaitUntil(finished, 5s));
    EXPECT_EQ(server.PeakConcurrent(), 2);
    EXPECT_EQ(f.Outcome("timeout"), 2u) << "the two running calls time out";
    EXPECT_EQ(f.downstream.InFlight(), 0u);
}

}  // namespace
}  // namespace keel::resilience
