// Span export end to end: the OTEL_* settings, and spans reaching an OTLP/HTTP receiver
// (an HTTP server started here) as OTLP JSON, in batches, with the resource attributes.
#include <keel/service/trace_export.hpp>

#include <boost/json/parse.hpp>

#include <mutex>
#include <thread>

#include <keel/core/ambient.hpp>
#include <keel/http/server.hpp>
#include <keel/telemetry/trace.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/env.hpp>

namespace keel::service {
namespace {

namespace json = boost::json;

TEST(TraceExportSettings, FollowOpenTelemetrysVariables) {
    auto off = testing::EnvFrom({});
    EXPECT_EQ(ReadTraceExportSettings(off, "orders").url, "");
    EXPECT_EQ(ReadTraceExportSettings(off, "orders").service_name, "orders");
    auto base = testing::EnvFrom({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"},
                                  {"OTEL_SERVICE_NAME", "keel-orders"},
                                  {"OTEL_BSP_SCHEDULE_DELAY", "250"}});
    const auto s = ReadTraceExportSettings(base, "orders");
    EXPECT_EQ(s.url, "http://collector:4318/v1/traces");
    EXPECT_EQ(s.service_name, "keel-orders");
    EXPECT_EQ(s.interval, std::chrono::milliseconds(250));
    base.Finish();
    auto whole = testing::EnvFrom({{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://a:4318"},
                                   {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://b:9/traces"}});
    EXPECT_EQ(ReadTraceExportSettings(whole, "x").url, "http://b:9/traces");
    auto grpc = testing::EnvFrom({{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4317"},
                                  {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}});
    ReadTraceExportSettings(grpc, "x");
    EXPECT_THROW(grpc.Finish(), core::ConfigError);
}

struct Receiver {
    std::mutex mutex;
    std::vector<json::value> bodies;
    std::vector<std::string> content_types;

    // Spans named "test ..." (the receiver runs in this process: its own server spans are
    // exported too, and are left out).
    std::vector<json::object> TestSpans() {
        std::lock_guard lock(mutex);
        std::vector<json::object> out;
        for (const auto& body : bodies)
            for (const auto& rs : body.at("resourceSpans").as_array())
                for (const auto& ss : rs.at("scopeSpans").as_array())
                    for (const auto& span : ss.at("spans").as_array())
                        if (span.at("name").as_string().starts_with("test "))
                            out.push_back(span.as_object());
        return out;
    }
    bool AnyClientSpan() {
        std::lock_guard lock(mutex);
        for (const auto& body : bodies)
            for (const auto& rs : body.at("resourceSpans").as_array())
                for (const auto& ss : rs.at("scopeSpans").as_array())
                    for (const auto& span : ss.at("spans").as_array())
                        if (span.at("kind") == 3) return true;
        return false;
    }
};
Receiver* g_receiver = nullptr;

Task<http::Response> Collect(http::RequestContext& req) {
    std::lock_guard lock(g_receiver->mutex);
    g_receiver->bodies.push_back(json::parse(req.Req().body()));
    g_receiver->content_types.emplace_back(req.Header("Content-Type").value_or(""));
    co_return http::JsonText(http::Status::ok, "{}");
}

telemetry::FinishedSpan TestSpan(int i) {
    telemetry::FinishedSpan span;
    span.name = "test " + std::to_string(i);
    span.kind = telemetry::SpanKind::kConsumer;
    span.trace_id = telemetry::NewTraceId();
    span.span_id = telemetry::NewSpanId();
    span.start = std::chrono::system_clock::now();
    span.duration = std::chrono::microseconds(1500);
    return span;
}

struct ExportCase {
    static Task<void> Run(asio::io_context& ctx) {
        Receiver receiver;
        g_receiver = &receiver;
        http::Router router;
        router.Add(http::Verb::post, "/v1/traces", http::Access::kPublic, Collect);
        http::ServerOptions options;
        options.access_log = false;
        telemetry::Registry registry;
        http::Server server(ctx, std::move(router), options, nullptr, registry);
        server.Start();

        auto env = testing::EnvFrom(
            {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:" + std::to_string(server.Port())},
             {"OTEL_SERVICE_NAME", "svc"},
             {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4"},
             {"OTEL_BSP_SCHEDULE_DELAY", "100"}});
        const auto settings = ReadTraceExportSettings(env, "ignored");
        env.Finish();
        auto client = std::make_shared<http::Client>(ctx.get_executor());
        FlushSpans flush =
            StartTraceExport(settings, ctx.get_executor(), client, "svc-7", "c0ffee");
        EXPECT_TRUE(flush);
        // Exported from inside a traced piece of work: the exporter's own calls must not
        // become spans of it (nor of anything).
        const auto traced = std::make_shared<const ambient::Context>(
            ambient::Context{telemetry::NewTraceId(), telemetry::NewSpanId(), "corr-1", true});
        {
            ambient::Scope scope(traced.get());
            for (int i = 0; i < 10; ++i) telemetry::ExportSpan(TestSpan(i));
        }
        telemetry::ExportSpan(TestSpan(99), false);  // not sampled: never exported
        auto all = [&receiver]() -> Task<bool> { co_return receiver.TestSpans().size() >= 10; };
        EXPECT_TRUE(co_await testing::WaitUntil(all, std::chrono::seconds(10)));
        telemetry::ExportSpan(TestSpan(10));
        co_await flush(std::chrono::seconds(5));  // sends the last one without waiting
        telemetry::SetSpanExporter(nullptr);

        const auto spans = receiver.TestSpans();
        EXPECT_EQ(spans.size(), 11u);
        for (const auto& span : spans) EXPECT_NE(span.at("name"), "test 99");
        EXPECT_FALSE(receiver.AnyClientSpan());
        {
            std::lock_guard lock(receiver.mutex);
            EXPECT_EQ(receiver.content_types.at(0), "application/json");
            for (const auto& body : receiver.bodies) {
                const auto& rs = body.at("resourceSpans").at(0);
                const auto& attrs = rs.at("resource").at("attributes").as_array();
                EXPECT_EQ(attrs.at(0).at("value").at("stringValue"), "svc");
                EXPECT_EQ(attrs.at(1).at("value").at("stringValue"), "svc-7");
                EXPECT_EQ(attrs.at(2).at("value").at("stringValue"), "c0ffee");
                EXPECT_LE(rs.at("scopeSpans").at(0).at("spans").as_array().size(), 4u);
            }
        }
        co_await server.Drain();
        g_receiver = nullptr;
    }
};

TEST(TraceExport, SendsBatchesToAnOtlpHttpReceiver) {
    asio::io_context ctx;
    testing::RunCoro([&]() -> Task<void> {
        std::vector<std::thread> io;
        io.reserve(3);
        auto guard = asio::make_work_guard(ctx);
        for (int i = 0; i < 2; ++i) io.emplace_back([&] { ctx.run(); });
        std::exception_ptr failure;
        try {
            co_await ExportCase::Run(ctx);
        } catch (...) {
            failure = std::current_exception();
        }
        guard.reset();
        ctx.stop();
        for (auto& t : io) t.join();
        if (failure) std::rethrow_exception(failure);
    }());
}

}  // namespace
}  // namespace keel::service
