// The server's request deadline (X-Request-Timeout-Ms) and its overload-control hook.
#include <keel/http/client.hpp>
#include <keel/http/server.hpp>
#include <keel/testing/coro_test.hpp>

#include <boost/json/parse.hpp>

#include <thread>

namespace keel::http {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;
using std::chrono::milliseconds;

// Admits while `open`, and records what the server tells it.
class ScriptedAdmission final : public AdmissionControl {
public:
    std::atomic<bool> open{true};
    std::atomic<int> acquired{0};
    std::atomic<int> released_counted{0};
    std::atomic<int> released_uncounted{0};

    std::atomic<std::int64_t> last_queued_ms{-1};

    bool TryAcquire(std::chrono::nanoseconds queued) override {
        last_queued_ms = std::chrono::duration_cast<milliseconds>(queued).count();
        if (!open) return false;
        ++acquired;
        ++in_flight_;
        return true;
    }
    void Release(std::chrono::nanoseconds latency, bool counts) override {
        EXPECT_GE(latency.count(), 0);
        --in_flight_;
        ++(counts ? released_counted : released_uncounted);
    }
    std::size_t Limit() const override { return 7; }
    std::size_t InFlight() const override { return static_cast<std::size_t>(in_flight_.load()); }

private:
    std::atomic<int> in_flight_{0};
};

struct Calls {
    std::atomic<int> handled{0};
};

Router MakeRouter(std::shared_ptr<Calls> calls) {
    Router router;
    // Answers how many milliseconds of its deadline were left when the handler ran.
    router.Add(
        Verb::get, "/budget", Access::kPublic, [calls](RequestContext& ctx) -> Task<Response> {
            ++calls->handled;
            const auto left = std::chrono::duration_cast<milliseconds>(
                ctx.Deadline() - std::chrono::steady_clock::now());
            co_return JsonText(Status::ok, "{\"left_ms\":" + std::to_string(left.count()) + "}");
        });
    router.Add(Verb::get, "/down", Access::kPublic, [calls](RequestContext&) -> Task<Response> {
        ++calls->handled;
        throw UnavailableError("the database is down");
    });
    router.Add(Verb::get, "/private", Access::kUser, [calls](RequestContext&) -> Task<Response> {
        ++calls->handled;
        co_return JsonText(Status::ok, "{}");
    });
    return router;
}

std::int64_t LeftMs(const Response& r) {
    return boost::json::parse(r.body()).as_object().at("left_ms").as_int64();
}

// Runs `body` against a server on its own io thread, as in a service.
void WithServer(ServerOptions options, std::shared_ptr<Calls> calls,
                std::function<Task<void>(std::shared_ptr<Client>, std::string)> body) {
    asio::io_context ctx;
    options.port = 0;
    options.access_log = false;
    telemetry::Registry registry;
    Server server(ctx, MakeRouter(calls), options, nullptr, registry);
    server.Start();
    const std::string base = "http://127.0.0.1:" + std::to_string(server.Port());
    std::thread io([&] {
        auto guard = asio::make_work_guard(ctx);
        ctx.run();
    });
    std::exception_ptr failure;
    testing::RunCoro([&]() -> Task<void> {
        try {
            auto client = std::make_shared<Client>(co_await asio::this_coro::executor);
            co_await body(client, base);
        } catch (...) {
            failure = std::current_exception();
        }
    }());
    ctx.stop();
    io.join();
    if (failure) std::rethrow_exception(failure);
}

TEST(HttpServerDeadline, CallerBudgetCapsTheServersOwnTimeout) {
    ServerOptions options;
    options.request_timeout = milliseconds(5000);
    auto calls = std::make_shared<Calls>();
    WithServer(
        options, calls, [calls](std::shared_ptr<Client> client, std::string base) -> Task<void> {
            const milliseconds wait(2000);
            const auto own = co_await client->Get(base + "/budget", wait);
            EXPECT_GT(LeftMs(own), 4000);
            EXPECT_LE(LeftMs(own), 5000);

            Headers short_budget{{std::string(kTimeoutHeader), "150"}};
            const auto given = co_await client->Get(base + "/budget", wait, short_budget);
            EXPECT_GT(LeftMs(given), 0);
            EXPECT_LE(LeftMs(given), 150);

            Headers long_budget{{std::string(kTimeoutHeader), "600000"}};
            EXPECT_LE(LeftMs(co_await client->Get(base + "/budget", wait, long_budget)), 5000);

            const int before = calls->handled;
            Headers spent{{std::string(kTimeoutHeader), "0"}};
            const auto expired = co_await client->Get(base + "/budget", wait, spent);
            EXPECT_EQ(expired.result_int(), 504u);
            EXPECT_NE(expired.body().find("deadline"), std::string::npos) << expired.body();
            for (const char* bad : {"abc", "-5", "12ms", "1.5"}) {
                Headers malformed{{std::string(kTimeoutHeader), bad}};
                const auto refused = co_await client->Get(base + "/budget", wait, malformed);
                EXPECT_EQ(refused.result_int(), 400u) << bad;
                EXPECT_NE(refused.body().find(std::string(kTimeoutHeader)), std::string::npos);
            }
            EXPECT_EQ(calls->handled, before) << "a handler ran for a refused request";
        });
}

TEST(HttpServerAdmission, ShedsEarlyButNeverTheProbes) {
    auto admission = std::make_shared<ScriptedAdmission>();
    ServerOptions options;
    options.admission = admission;
    options.shed_retry_after_s = 2;
    auto calls = std::make_shared<Calls>();
    WithServer(
        options, calls,
        [calls, admission](std::shared_ptr<Client> client, std::string base) -> Task<void> {
            const milliseconds wait(2000);
            EXPECT_EQ((co_await client->Get(base + "/budget", wait)).result_int(), 200u);
            EXPECT_EQ((co_await client->Get(base + "/down", wait)).result_int(), 503u);
            EXPECT_EQ(admission->acquired, 2);
            EXPECT_EQ(admission->released_counted, 1);
            // A dependency's 503 says nothing about this server's own latency.
            EXPECT_EQ(admission->released_uncounted, 1);
            EXPECT_EQ(admission->InFlight(), 0u);
            EXPECT_EQ(admission->last_queued_ms, 0) << "no X-Request-Start: nothing known";

            // The gateway stamped the request 250 ms ago (nginx's $msec form).
            const double stamped =
                std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                    .count() -
                0.25;
            char start[64];
            std::snprintf(start, sizeof start, "t=%.3f", stamped);
            Headers queued{{"X-Request-Start", start}};
            EXPECT_EQ((co_await client->Get(base + "/budget", wait, queued)).result_int(), 200u);
            EXPECT_GE(admission->last_queued_ms, 240);
            EXPECT_LT(admission->last_queued_ms, 1000);
            Headers garbage{{"X-Request-Start", "t=soon"}};
            EXPECT_EQ((co_await client->Get(base + "/budget", wait, garbage)).result_int(), 200u);
            EXPECT_EQ(admission->last_queued_ms, 0);

            admission->open = false;
            const int before = calls->handled;
            const auto shed = co_await client->Get(base + "/budget", wait);
            EXPECT_EQ(shed.result_int(), 503u);
            EXPECT_EQ(shed[beast_http::field::retry_after], "2");
            EXPECT_EQ(shed[beast_http::field::content_type], "application/problem+json");
            EXPECT_NE(shed.body().find("overloaded"), std::string::npos);
            // Shed before authentication: no token needed to learn that the server is full.
            EXPECT_EQ((co_await client->Get(base + "/private", wait)).result_int(), 503u);
            EXPECT_EQ(calls->handled, before);

            for (const char* probe : {"/healthz", "/readyz", "/metrics"})
                EXPECT_EQ((co_await client->Get(base + probe, wait)).result_int(), 200u) << probe;
            const auto metrics = (co_await client->Get(base + "/metrics", wait)).body();
            EXPECT_NE(metrics.find("http_requests_shed_total 2"), std::string::npos) << metrics;
            EXPECT_NE(metrics.find("http_concurrency_limit 7"), std::string::npos);
            EXPECT_NE(
                metrics.find(R"(http_requests_total{route="/budget",method="GET",status="503"} 1)"),
                std::string::npos);
            EXPECT_NE(
                metrics.find(R"(http_requests_total{route="/budget",method="GET",status="200"} 3)"),
                std::string::npos);
        });
}

}  // namespace
}  // namespace keel::http
