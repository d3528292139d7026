#include "event_trace.hpp"

#include <keel/core/log.hpp>
#include <keel/telemetry/trace.hpp>

namespace keel::bus {

std::string ContinueTraceparent(std::string_view traceparent) {
    const auto parsed = telemetry::ParseTraceparent(traceparent);
    return telemetry::FormatTraceparent(parsed ? *parsed : telemetry::ChildOf(std::nullopt));
}

std::shared_ptr<const ambient::Context> AmbientOf(const Event& event) {
    const auto span = telemetry::ParseTraceparent(event.next.traceparent);
    if (!span) return nullptr;
    return std::make_shared<const ambient::Context>(
        ambient::Context{span->trace_id, span->span_id, event.next.correlation_id, span->sampled});
}

void RecordConsumerSpan(const Event& event, const std::string& consumer, const char* outcome,
                        std::int64_t end_us) {
    const auto span = telemetry::ParseTraceparent(event.next.traceparent);
    if (!span) return;
    const auto parent = telemetry::ParseTraceparent(event.envelope.traceparent);
    const std::string parent_span_id = parent ? parent->span_id : std::string();
    const std::int64_t duration_us = end_us - event.next.hop.start_us;
    const std::string name = "consume " + event.envelope.topic;
    log::Info("event", {{"span", name},
                        {"span_kind", "consumer"},
                        {"trace_id", span->trace_id},
                        {"span_id", span->span_id},
                        {"parent_span_id", parent_span_id},
                        {"correlation_id", event.envelope.correlation_id},
                        {"duration_ms", static_cast<double>(duration_us) / 1000.0},
                        {"event_id", event.envelope.event_id},
                        {"topic", event.envelope.topic},
                        {"consumer", consumer},
                        {"delivery", static_cast<std::int64_t>(event.deliveries)},
                        {"outcome", outcome}});
    telemetry::FinishedSpan finished;
    finished.name = name;
    finished.kind = telemetry::SpanKind::kConsumer;
    finished.trace_id = span->trace_id;
    finished.span_id = span->span_id;
    finished.parent_span_id = parent_span_id;
    finished.start =
        std::chrono::system_clock::time_point(std::chrono::microseconds(event.next.hop.start_us));
    finished.duration = std::chrono::microseconds(duration_us);
    finished.error = std::string_view(outcome) == "failed";
    finished.attributes = {{"messaging.system", std::string("nats")},
                           {"messaging.destination.name", event.envelope.topic},
                           {"messaging.consumer.group.name", consumer},
                           {"messaging.message.id", event.envelope.event_id},
                           {"keel.correlation_id", event.envelope.correlation_id},
                           {"keel.outcome", std::string(outcome)}};
    telemetry::ExportSpan(std::move(finished), span->sampled);
}

}  // namespace keel::bus
