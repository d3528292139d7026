// W3C trace context through the server and the client: a request's server span continues
// a valid traceparent (a malformed one starts a trace), is current in its handler across
// co_awaits on several threads, and a call the handler makes is a client span whose child
// traceparent the next server continues.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <mutex>
#include <thread>

#include <keel/core/ambient.hpp>
#include <keel/http/client.hpp>
#include <keel/http/server.hpp>
#include <keel/telemetry/trace.hpp>
#include <keel/testing/coro_test.hpp>

namespace keel::http {
namespace {

namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kTrace = "0af7651916cd43dd8448eb211c80319c";
constexpr std::string_view kCallerSpan = "b7ad6b7169203331";

class Captured final : public telemetry::SpanExporter {
public:
    void Export(telemetry::FinishedSpan span) override {
        std::lock_guard lock(mutex_);
        spans_.push_back(std::move(span));
    }
    std::vector<telemetry::FinishedSpan> Spans() {
        std::lock_guard lock(mutex_);
        return spans_;
    }

private:
    std::mutex mutex_;
    std::vector<telemetry::FinishedSpan> spans_;
};

struct Shared {
    std::shared_ptr<Client> client;
    std::string base;
};
Shared* g_shared = nullptr;

std::string Str(const json::value& v) { return std::string(v.as_string()); }

std::string CurrentTraceId() {
    const ambient::Context* c = ambient::Current();
    return c ? c->trace_id : "";
}

Task<Response> Front(RequestContext& req) {
    bool ambient_ok = CurrentTraceId() == req.Trace().trace_id;
    for (int i = 0; i < 5; ++i) {
        co_await testing::Sleep(std::chrono::milliseconds(1));
        ambient_ok = ambient_ok && CurrentTraceId() == req.Trace().trace_id;
    }
    const Response back =
        co_await g_shared->client->Get(g_shared->base + "/back", std::chrono::seconds(2));
    ambient_ok = ambient_ok && CurrentTraceId() == req.Trace().trace_id;
    json::object out;
    out["trace_id"] = req.Trace().trace_id;
    out["span_id"] = req.Trace().span_id;
    out["parent_span_id"] = req.ParentSpanId();
    out["traceparent"] = req.Traceparent();
    out["ambient_ok"] = ambient_ok;
    out["back"] = json::parse(back.body());
    co_return JsonText(Status::ok, json::serialize(out));
}

Task<Response> Back(RequestContext& req) {
    json::object out;
    out["received"] = std::string(req.Header("traceparent").value_or(""));
    out["request_id"] = req.RequestId();
    out["trace_id"] = req.Trace().trace_id;
    out["span_id"] = req.Trace().span_id;
    out["parent_span_id"] = req.ParentSpanId();
    co_return JsonText(Status::ok, json::serialize(out));
}

struct TraceCase {
    static Task<void> Run(asio::io_context& ctx, Captured& captured) {
        auto ex = co_await asio::this_coro::executor;
        Router router;
        router.Add(Verb::get, "/front", Access::kPublic, Front);
        router.Add(Verb::get, "/back", Access::kPublic, Back);
        ServerOptions options;
        options.access_log = false;
        telemetry::Registry registry;
        Server server(ctx, std::move(router), options, nullptr, registry);
        server.Start();
        Shared shared{std::make_shared<Client>(ctx.get_executor()),
                      "http://127.0.0.1:" + std::to_string(server.Port())};
        g_shared = &shared;
        Client client(ex);
        const auto ms = std::chrono::milliseconds(3000);

        const std::string incoming =
            "00-" + std::string(kTrace) + "-" + std::string(kCallerSpan) + "-01";
        Headers headers{{"traceparent", incoming}, {"X-Request-Id", "req-trace-1"}};
        const Response r = co_await client.Get(shared.base + "/front", ms, headers);
        EXPECT_EQ(r.result_int(), 200u) << r.body();
        const auto front = json::parse(r.body()).as_object();
        EXPECT_EQ(Str(front.at("trace_id")), kTrace);
        EXPECT_EQ(Str(front.at("parent_span_id")), kCallerSpan);
        const std::string front_span(front.at("span_id").as_string());
        EXPECT_EQ(front_span.size(), 16u);
        EXPECT_NE(front_span, kCallerSpan);
        EXPECT_EQ(Str(front.at("traceparent")),
                  "00-" + std::string(kTrace) + "-" + front_span + "-01");
        EXPECT_TRUE(front.at("ambient_ok").as_bool());
        // The handler's call: a child traceparent (the client span), the correlation id.
        const auto& back = front.at("back").as_object();
        EXPECT_EQ(Str(back.at("trace_id")), kTrace);
        EXPECT_EQ(Str(back.at("request_id")), "req-trace-1");
        const auto sent = telemetry::ParseTraceparent(std::string(back.at("received").as_string()));
        EXPECT_TRUE(sent);
        const std::string client_span = sent ? sent->span_id : "";
        EXPECT_NE(client_span, front_span);
        EXPECT_EQ(Str(back.at("parent_span_id")), client_span);

        // Exported: back's server span <- the client span <- front's server span <- caller.
        auto three = [&captured]() -> Task<bool> { co_return captured.Spans().size() >= 3; };
        EXPECT_TRUE(co_await testing::WaitUntil(three, std::chrono::seconds(5)));
        const auto spans = captured.Spans();
        auto find = [&](telemetry::SpanKind kind, std::string_view name) {
            for (const auto& s : spans)
                if (s.kind == kind && s.name == name) return s;
            ADD_FAILURE() << "no span " << name;
            return telemetry::FinishedSpan{};
        };
        const auto front_s = find(telemetry::SpanKind::kServer, "GET /front");
        const auto client_s =
            find(telemetry::SpanKind::kClient, "GET 127.0.0.1:" + std::to_string(server.Port()));
        const auto back_s = find(telemetry::SpanKind::kServer, "GET /back");
        EXPECT_EQ(front_s.parent_span_id, kCallerSpan);
        EXPECT_EQ(client_s.span_id, client_span);
        EXPECT_EQ(client_s.parent_span_id, front_span);
        EXPECT_EQ(back_s.parent_span_id, client_span);
        EXPECT_EQ(back_s.trace_id, kTrace);

        // Malformed or absent: a new trace, never an error.
        const std::vector<std::string> malformed = {
            "00-xyz", "", "00-" + std::string(kTrace) + "-0000000000000000-01"};
        for (const std::string& bad : malformed) {
            Headers h;
            if (!bad.empty()) h.emplace_back("traceparent", bad);
            const Response fresh = co_await client.Get(shared.base + "/back", ms, h);
            EXPECT_EQ(fresh.result_int(), 200u);
            const auto o = json::parse(fresh.body()).as_object();
            EXPECT_EQ(o.at("trace_id").as_string().size(), 32u);
            EXPECT_NE(Str(o.at("trace_id")), kTrace);
            EXPECT_EQ(Str(o.at("parent_span_id")), "");
        }
        co_await server.Drain();
        g_shared = nullptr;
    }
};

TEST(HttpTrace, ContinuesTheCallersTraceIntoHandlerLogsAndCalls) {
    auto captured = std::make_shared<Captured>();
    telemetry::SetSpanExporter(captured);
    asio::io_context ctx;
    testing::RunCoro([&]() -> Task<void> {
        // Three io threads: the handler's resumptions hop between them.
        std::vector<std::thread> io;
        io.reserve(3);
        auto guard = asio::make_work_guard(ctx);
        for (int i = 0; i < 3; ++i) io.emplace_back([&] { ctx.run(); });
        std::exception_ptr failure;
        try {
            co_await TraceCase::Run(ctx, *captured);
        } catch (...) {
            failure = std::current_exception();
        }
        guard.reset();
        ctx.stop();
        for (auto& t : io) t.join();
        if (failure) std::rethrow_exception(failure);
    }());
    telemetry::SetSpanExporter(nullptr);
}

}  // namespace
}  // namespace keel::http
