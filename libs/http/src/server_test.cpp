#include <keel/http/client.hpp>
#include <keel/http/json_body.hpp>
#include <keel/http/server.hpp>
#include <keel/testing/coro_test.hpp>

#include <boost/json/parse.hpp>

namespace keel::http {
namespace {

class FixedAuthenticator final : public Authenticator {
public:
    Task<Outcome> Authenticate(std::string_view token) override {
        Outcome o;
        if (token == "user-token")
            o.principal = Principal{"u1", "user"};
        else if (token == "admin-token")
            o.principal = Principal{"a1", "admin"};
        else
            o.error = "bad token";
        co_return o;
    }
};

Router MakeRouter() {
    Router router;
    router.Add(
        Verb::get, "/items/{id}", Access::kPublic, [](RequestContext& ctx) -> Task<Response> {
            co_return JsonText(Status::ok, "{\"id\":\"" + std::string(ctx.Param("id")) +
                                               "\",\"q\":\"" + ctx.Query("q").value_or("") + "\"}");
        });
    router.Add(Verb::post, "/items", Access::kUser, [](RequestContext& ctx) -> Task<Response> {
        auto body = ParseJsonObject(ctx.Req());
        ObjectReader reader(body);
        auto name = reader.String("name", true, 1, 10);
        auto count = reader.Int("count", false, 0, 5);
        reader.Finish();
        co_return JsonText(Status::created, "{\"name\":\"" + *name + "\",\"count\":" +
                                                std::to_string(count.value_or(0)) + ",\"by\":\"" +
                                                ctx.User()->subject + "\"}");
    });
    router.Add(Verb::delete_, "/items/{id}", Access::kAdmin,
               [](RequestContext&) -> Task<Response> { co_return JsonText(Status::ok, "{}"); });
    router.Add(Verb::get, "/internal/ping", Access::kService,
               [](RequestContext&) -> Task<Response> { co_return JsonText(Status::ok, "{}"); });
    router.Add(Verb::get, "/boom", Access::kPublic, [](RequestContext&) -> Task<Response> {
        throw std::runtime_error("secret detail");
    });
    return router;
}

struct Fixture {
    std::unique_ptr<Server> server;
    std::shared_ptr<Client> client;
    std::string base;
};

Fixture Start(asio::io_context& ctx, asio::any_io_executor ex, ServerOptions options = {}) {
    options.port = 0;
    options.access_log = false;
    options.service_token = "svc-secret";
    options.max_body_bytes = 1024;
    static telemetry::Registry registry;
    Fixture f;
    f.server = std::make_unique<Server>(ctx, MakeRouter(), options,
                                        std::make_shared<FixedAuthenticator>(), registry);
    f.server->Start();
    f.client = std::make_shared<Client>(ex);
    f.base = "http://127.0.0.1:" + std::to_string(f.server->Port());
    return f;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

void ExpectProblem(const Response& r, unsigned status) {
    EXPECT_EQ(r.result_int(), status) << r.body();
    EXPECT_EQ(r[beast_http::field::content_type], "application/problem+json");
    auto v = boost::json::parse(r.body()).as_object();
    EXPECT_EQ(v.at("status").as_int64(), status);
    EXPECT_TRUE(v.contains("detail"));
}

struct ServerCase {
    static Task<void> Run(asio::io_context& ctx) {
        auto ex = co_await asio::this_coro::executor;
        auto f = Start(ctx, ex);
        const auto ms = std::chrono::milliseconds(2000);

        auto ok = co_await f.client->Get(f.base + "/items/42?q=a%20b", ms);
        EXPECT_EQ(ok.result_int(), 200u);
        EXPECT_EQ(ok.body(), R"({"id":"42","q":"a b"})");
        EXPECT_FALSE(ok["X-Request-Id"].empty());

        Headers with_id{{"X-Request-Id", "req-123"}};
        auto echoed = co_await f.client->Get(f.base + "/items/1", ms, with_id);
        EXPECT_EQ(echoed["X-Request-Id"], "req-123");

        ExpectProblem(co_await f.client->Get(f.base + "/nothing", ms), 404);
        ExpectProblem(co_await f.client->Send(Verb::put, f.base + "/items/1", {}, "", ms), 405);
        ExpectProblem(co_await f.client->Get(f.base + "/boom", ms), 500);
        auto boom = co_await f.client->Get(f.base + "/boom", ms);
        EXPECT_EQ(boom.body().find("secret detail"), std::string::npos);

        Headers json{{"Content-Type", "application/json"}};
        ExpectProblem(
            co_await f.client->Send(Verb::post, f.base + "/items", json, R"({"name":"a"})", ms),
            401);
        Headers user{{"Content-Type", "application/json"}, {"Authorization", "Bearer user-token"}};
        Headers bad{{"Content-Type", "application/json"}, {"Authorization", "Bearer nope"}};
        ExpectProblem(
            co_await f.client->Send(Verb::post, f.base + "/items", bad, R"({"name":"a"})", ms),
            401);
        auto created = co_await f.client->Send(Verb::post, f.base + "/items", user,
                                               R"({"name":"a","count":2})", ms);
        EXPECT_EQ(created.result_int(), 201u);
        EXPECT_EQ(created.body(), R"({"name":"a","count":2,"by":"u1"})");
        ExpectProblem(
            co_await f.client->Send(Verb::post, f.base + "/items", user, R"({"name":)", ms), 400);
        auto unknown = co_await f.client->Send(Verb::post, f.base + "/items", user,
                                               R"({"name":"a","extra":1})", ms);
        ExpectProblem(unknown, 422);
        EXPECT_NE(unknown.body().find("extra"), std::string::npos);
        ExpectProblem(co_await f.client->Send(Verb::post, f.base + "/items", user,
                                              R"({"name":5,"count":"x"})", ms),
                      422);
        ExpectProblem(co_await f.client->Send(Verb::post, f.base + "/items", user,
                                              "{\"name\":\"" + std::string(2000, 'x') + "\"}", ms),
                      413);
        Headers text{{"Content-Type", "text/plain"}, {"Authorization", "Bearer user-token"}};
        ExpectProblem(co_await f.client->Send(Verb::post, f.base + "/items", text, "name", ms),
                      415);

        Headers user_only{{"Authorization", "Bearer user-token"}};
        Headers admin{{"Authorization", "Bearer admin-token"}};
        ExpectProblem(
            co_await f.client->Send(Verb::delete_, f.base + "/items/1", user_only, "", ms), 403);
        EXPECT_EQ((co_await f.client->Send(Verb::delete_, f.base + "/items/1", admin, "", ms))
                      .result_int(),
                  200u);

        ExpectProblem(co_await f.client->Get(f.base + "/internal/ping", ms, admin), 401);
        Headers service{{"Authorization", "Bearer svc-secret"}};
        EXPECT_EQ((co_await f.client->Get(f.base + "/internal/ping", ms, service)).result_int(),
                  200u);

        EXPECT_EQ((co_await f.client->Get(f.base + "/healthz", ms)).result_int(), 200u);
        EXPECT_EQ((co_await f.client->Get(f.base + "/readyz", ms)).result_int(), 200u);
        auto metrics = co_await f.client->Get(f.base + "/metrics", ms);
        EXPECT_NE(metrics.body().find(
                      R"(http_requests_total{route="/items/{id}",method="GET",status="200"})"),
                  std::string::npos)
            << metrics.body();
        EXPECT_NE(metrics.body().find("http_request_duration_seconds_bucket"), std::string::npos);

        co_await f.server->Drain();
        bool refused = false;
        try {
            Client fresh(ex);
            co_await fresh.Get(f.base + "/healthz", ms);
        } catch (const ClientError&) {
            refused = true;
        }
        EXPECT_TRUE(refused);
    }
};

TEST(HttpServer, ServesRoutesLimitsAuthAndProblems) {
    asio::io_context ctx;
    testing::RunCoro([&]() -> Task<void> {
        // The server runs on its own io_context thread, like in a service.
        std::thread io([&] {
            auto guard = asio::make_work_guard(ctx);
            ctx.run();
        });
        std::exception_ptr failure;
        try {
            co_await ServerCase::Run(ctx);
        } catch (...) {
            failure = std::current_exception();
        }
        ctx.stop();
        io.join();
        if (failure) std::rethrow_exception(failure);
    }());
}

TEST(Router, MatchesParamsAndReportsAllowedMethods) {
    Router router;
    auto noop = [](RequestContext&) -> Task<Response> { co_return Response{}; };
    router.Add(Verb::get, "/a/{x}/b", Access::kPublic, noop);
    router.Add(Verb::post, "/a/{x}/b", Access::kPublic, noop);
    std::vector<std::pair<std::string_view, std::string_view>> params;
    auto m = router.Find(Verb::get, "/a/7/b", params);
    ASSERT_TRUE(m.route);
    EXPECT_EQ(params.at(0).second, "7");
    auto miss = router.Find(Verb::delete_, "/a/7/b", params);
    EXPECT_FALSE(miss.route);
    EXPECT_TRUE(miss.path_known);
    EXPECT_EQ(miss.allow, "GET, POST");
    EXPECT_FALSE(router.Find(Verb::get, "/a//b", params).route);
    EXPECT_FALSE(router.Find(Verb::get, "/a/7/b/c", params).path_known);
    EXPECT_EQ(PercentDecode("a%2Fb+c", true), "a/b c");
    EXPECT_FALSE(PercentDecode("%zz", false));
    EXPECT_FALSE(PercentDecode("%4", false));
}

TEST(RequestContext, QueryIntTakesTheFallbackOrAValueInRange) {
    auto with = [](std::string target) {
        Request r;
        r.target(target);
        return r;
    };
    const auto absent = with("/x?other=1");
    const auto seven = with("/x?limit=7");
    EXPECT_EQ(RequestContext(absent, "r", "ip").QueryInt("limit", 20, 1, 100), 20);
    EXPECT_EQ(RequestContext(seven, "r", "ip").QueryInt("limit", 20, 1, 100), 7);
    for (const char* bad :
         {"/x?limit=0", "/x?limit=101", "/x?limit=7x", "/x?limit=", "/x?limit=-1"}) {
        const auto request = with(bad);
        try {
            RequestContext(request, "r", "ip").QueryInt("limit", 20, 1, 100);
            ADD_FAILURE() << bad << " was accepted";
        } catch (const HttpError& e) {
            EXPECT_EQ(e.GetStatus(), Status::bad_request) << bad;
            EXPECT_STREQ(e.what(), "limit must be an integer from 1 to 100") << bad;
        }
    }
}

}  // namespace
}  // namespace keel::http
