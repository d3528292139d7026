#include "event_trace.hpp"

#include <gtest/gtest.h>

#include <mutex>

#include <keel/telemetry/trace.hpp>

namespace keel::bus {
namespace {

constexpr std::string_view kWriter = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

class Captured final : public telemetry::SpanExporter {
public:
    void Export(telemetry::FinishedSpan span) override {
        std::lock_guard lock(mutex);
        spans.push_back(std::move(span));
    }
    std::mutex mutex;
    std::vector<telemetry::FinishedSpan> spans;
};

// What DecodeEvent makes of a delivered event: the consumer span is a child of the writer's.
Event Delivered(std::string traceparent) {
    Event event;
    event.envelope.event_id = "0190c5f0-0000-7000-8000-000000000001";
    event.envelope.topic = "orders.order_placed.v1";
    event.envelope.correlation_id = "req-1";
    event.envelope.traceparent = std::move(traceparent);
    event.next.correlation_id = "req-1";
    event.next.traceparent = NextTraceparent(event.envelope.traceparent);
    event.next.hop.start_us = 1'700'000'000'000'000;
    return event;
}

TEST(EventTrace, TheWritingSpanIsWhatTheEventCarries) {
    EXPECT_EQ(ContinueTraceparent(kWriter), kWriter);
    const auto fresh = telemetry::ParseTraceparent(ContinueTraceparent("not a traceparent"));
    EXPECT_TRUE(fresh);
    EXPECT_NE(fresh.value_or(telemetry::SpanContext{}).trace_id,
              "0af7651916cd43dd8448eb211c80319c");
}

TEST(EventTrace, TheHandlerRunsInTheConsumerSpanOfTheWritersTrace) {
    const Event event = Delivered(std::string(kWriter));
    const auto context = AmbientOf(event);
    ASSERT_TRUE(context);
    EXPECT_EQ(context->trace_id, "0af7651916cd43dd8448eb211c80319c");
    EXPECT_NE(context->span_id, "b7ad6b7169203331");
    EXPECT_EQ(context->correlation_id, "req-1");
    // Events the handler writes (Origin = event.next) carry the consumer span.
    const auto written = telemetry::ParseTraceparent(event.next.traceparent);
    EXPECT_EQ(written.value_or(telemetry::SpanContext{}).span_id, context->span_id);
}

TEST(EventTrace, OneConsumerSpanPerHandledDelivery) {
    auto captured = std::make_shared<Captured>();
    telemetry::SetSpanExporter(captured);
    const Event event = Delivered(std::string(kWriter));
    RecordConsumerSpan(event, "catalog__orders_order_placed_v1", "processed",
                       event.next.hop.start_us + 2500);
    const Event orphan = Delivered("");  // an event from before traces: its own trace
    RecordConsumerSpan(orphan, "c", "failed", orphan.next.hop.start_us + 1);
    telemetry::SetSpanExporter(nullptr);
    ASSERT_EQ(captured->spans.size(), 2u);
    const auto& span = captured->spans[0];
    EXPECT_EQ(span.name, "consume orders.order_placed.v1");
    EXPECT_EQ(span.kind, telemetry::SpanKind::kConsumer);
    EXPECT_EQ(span.trace_id, "0af7651916cd43dd8448eb211c80319c");
    EXPECT_EQ(span.parent_span_id, "b7ad6b7169203331");
    EXPECT_EQ(span.span_id, AmbientOf(event)->span_id);
    EXPECT_EQ(span.duration, std::chrono::microseconds(2500));
    EXPECT_FALSE(span.error);
    EXPECT_EQ(captured->spans[1].parent_span_id, "");
    EXPECT_TRUE(captured->spans[1].error);
}

}  // namespace
}  // namespace keel::bus
