#include <keel/telemetry/otlp.hpp>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include <keel/testing/coro_test.hpp>

namespace keel::telemetry {
namespace {

namespace json = boost::json;

FinishedSpan Sample(std::string name) {
    FinishedSpan span;
    span.name = std::move(name);
    span.kind = SpanKind::kServer;
    span.trace_id = "0af7651916cd43dd8448eb211c80319c";
    span.span_id = "b7ad6b7169203331";
    span.parent_span_id = "00f067aa0ba902b7";
    span.start = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    span.duration = std::chrono::milliseconds(12);
    span.error = true;
    span.attributes = {{"http.route", std::string("/api/orders/{id}")},
                       {"http.response.status_code", std::int64_t{503}}};
    return span;
}

// The field names and encodings of opentelemetry-proto's JSON mapping (OTLP/HTTP JSON).
TEST(OtlpJson, UsesOtlpFieldNamesAndEncodings) {
    const std::vector<FinishedSpan> spans = {Sample("GET /api/orders/{id}")};
    const auto doc = json::parse(EncodeOtlpJson({"orders", "orders-1", "abc123"}, spans));
    const auto& rs = doc.at("resourceSpans").at(0);
    const auto& attrs = rs.at("resource").at("attributes").as_array();
    EXPECT_EQ(attrs.at(0).at("key"), "service.name");
    EXPECT_EQ(attrs.at(0).at("value").at("stringValue"), "orders");
    EXPECT_EQ(attrs.at(1).at("key"), "service.instance.id");
    EXPECT_EQ(attrs.at(2).at("value").at("stringValue"), "abc123");
    const auto& scope = rs.at("scopeSpans").at(0);
    EXPECT_EQ(scope.at("scope").at("name"), "keel");
    const auto& span = scope.at("spans").at(0);
    EXPECT_EQ(span.at("traceId"), "0af7651916cd43dd8448eb211c80319c");
    EXPECT_EQ(span.at("spanId"), "b7ad6b7169203331");
    EXPECT_EQ(span.at("parentSpanId"), "00f067aa0ba902b7");
    EXPECT_EQ(span.at("name"), "GET /api/orders/{id}");
    EXPECT_EQ(span.at("kind"), 2);  // SPAN_KIND_SERVER
    EXPECT_EQ(span.at("startTimeUnixNano"), "1700000000000000000");
    EXPECT_EQ(span.at("endTimeUnixNano"), "1700000000012000000");
    EXPECT_EQ(span.at("attributes").at(1).at("value").at("intValue"), "503");
    EXPECT_EQ(span.at("status").at("code"), 2);  // STATUS_CODE_ERROR
}

TEST(OtlpJson, ARootSpanHasNoParentAndAnOkSpanNoStatus) {
    FinishedSpan root = Sample("consume orders.order_placed.v1");
    root.parent_span_id.clear();
    root.error = false;
    root.kind = SpanKind::kConsumer;
    const std::vector<FinishedSpan> spans = {root};
    const auto span = json::parse(EncodeOtlpJson({"catalog", "catalog-1", ""}, spans))
                          .at("resourceSpans")
                          .at(0)
                          .at("scopeSpans")
                          .at(0)
                          .at("spans")
                          .at(0);
    EXPECT_FALSE(span.as_object().contains("parentSpanId"));
    EXPECT_FALSE(span.as_object().contains("status"));
    EXPECT_EQ(span.at("kind"), 5);
}

struct Received {
    std::vector<std::size_t> batch_sizes;
    bool accept = true;
};

BatchSender Recorder(const std::shared_ptr<Received>& received) {
    return [received](std::string body) -> Task<bool> {
        const auto doc = json::parse(body);
        received->batch_sizes.push_back(
            doc.at("resourceSpans").at(0).at("scopeSpans").at(0).at("spans").as_array().size());
        co_return received->accept;
    };
}

// A full batch leaves at once, without waiting for the (long) interval.
KEEL_CORO_TEST(BatchSpanExporter, SendsAFullBatchAtOnce) {
    Registry registry;
    auto received = std::make_shared<Received>();
    BatchOptions options;
    options.max_batch = 3;
    options.interval = std::chrono::hours(1);
    // Named first: GCC 12 frees a temporary twice in a full-expression with co_await.
    const auto executor = co_await asio::this_coro::executor;
    const OtlpResource resource{"s", "s-1", ""};
    auto exporter =
        BatchSpanExporter::Start(executor, resource, options, Recorder(received), registry);
    for (int i = 0; i < 7; ++i) exporter->Export(Sample("x"));
    auto two_batches = [received]() -> Task<bool> { co_return received->batch_sizes.size() >= 2; };
    EXPECT_TRUE(co_await testing::WaitUntil(two_batches, std::chrono::seconds(5)));
    EXPECT_EQ(received->batch_sizes, (std::vector<std::size_t>{3, 3}));
    EXPECT_EQ(exporter->Queued(), 1u);
    co_await exporter->Flush(std::chrono::seconds(5));
    EXPECT_EQ(received->batch_sizes, (std::vector<std::size_t>{3, 3, 1}));
    EXPECT_EQ(registry.GetCounter("keel_trace_spans_exported_total", "").Value(), 7u);
}

KEEL_CORO_TEST(BatchSpanExporter, SendsWhatWaitsEveryInterval) {
    Registry registry;
    auto received = std::make_shared<Received>();
    BatchOptions options;
    options.interval = std::chrono::milliseconds(50);
    // Named first: GCC 12 frees a temporary twice in a full-expression with co_await.
    const auto executor = co_await asio::this_coro::executor;
    const OtlpResource resource{"s", "s-1", ""};
    auto exporter =
        BatchSpanExporter::Start(executor, resource, options, Recorder(received), registry);
    exporter->Export(Sample("x"));
    auto sent = [received]() -> Task<bool> { co_return !received->batch_sizes.empty(); };
    EXPECT_TRUE(co_await testing::WaitUntil(sent, std::chrono::seconds(5)));
    co_await exporter->Flush(std::chrono::seconds(1));
}

KEEL_CORO_TEST(BatchSpanExporter, ABoundedQueueDropsAndCounts) {
    Registry registry;
    auto received = std::make_shared<Received>();
    received->accept = false;
    BatchOptions options;
    options.max_queue = 4;
    options.max_batch = 100;
    options.interval = std::chrono::hours(1);
    // Named first: GCC 12 frees a temporary twice in a full-expression with co_await.
    const auto executor = co_await asio::this_coro::executor;
    const OtlpResource resource{"s", "s-1", ""};
    auto exporter =
        BatchSpanExporter::Start(executor, resource, options, Recorder(received), registry);
    for (int i = 0; i < 10; ++i) exporter->Export(Sample("x"));
    EXPECT_EQ(exporter->Queued(), 4u);
    co_await exporter->Flush(std::chrono::seconds(5));
    const auto dropped = [&](const char* reason) {
        return registry.GetCounter("keel_trace_spans_dropped_total", "", {{"reason", reason}})
            .Value();
    };
    EXPECT_EQ(dropped("queue_full"), 6u);
    EXPECT_EQ(dropped("export_failed"), 4u);  // the receiver refused the flushed batch
    EXPECT_EQ(exporter->Queued(), 0u);
}

}  // namespace
}  // namespace keel::telemetry
