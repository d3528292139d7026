#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

/// W3C Trace Context and finished spans. A span's ids are lower-case hex strings, as
/// they appear in `traceparent` and in log lines (trace_id, span_id, parent_span_id).
namespace keel::telemetry {

/// The part of a traceparent that a child continues.
struct SpanContext {
    std::string trace_id;  ///< 32 lower-case hex digits, not all zero
    std::string span_id;   ///< 16 lower-case hex digits, not all zero
    bool sampled = true;   ///< trace-flags bit 0
};

/// Parses a `traceparent` header (W3C Trace Context level 1: version 00 is exactly
/// 00-<32 hex>-<16 hex>-<2 hex>; a later version may append "-..." which is ignored; version
/// ff, upper-case hex and all-zero ids are invalid). nullopt when malformed: the caller
/// starts a new trace, never fails the request.
std::optional<SpanContext> ParseTraceparent(std::string_view header);
/// "00-<trace_id>-<span_id>-01" (or -00 when not sampled).
std::string FormatTraceparent(const SpanContext& context);
/// Random, never all zero. Thread-safe.
std::string NewTraceId();
std::string NewSpanId();
/// A new span of `parent`'s trace, or the root span of a new trace when there is none.
SpanContext ChildOf(const std::optional<SpanContext>& parent);

/// OTLP's kinds; the name (KindName) is what log lines carry as `span_kind`.
enum class SpanKind { kInternal, kServer, kClient, kProducer, kConsumer };
std::string_view KindName(SpanKind kind);

using AttributeValue = std::variant<std::string, std::int64_t>;

/// A span that has ended, as exported.
struct FinishedSpan {
    std::string
        name;  ///< low cardinality: "GET /api/orders/{id}", "consume orders.order_placed.v1"
    SpanKind kind = SpanKind::kInternal;
    std::string trace_id;
    std::string span_id;
    std::string parent_span_id;  ///< "" for a root span
    std::chrono::system_clock::time_point start;
    std::chrono::nanoseconds duration{0};
    bool error = false;  ///< OTLP status ERROR (else UNSET)
    std::vector<std::pair<std::string, AttributeValue>> attributes;
};

/// Where finished spans go besides the log (the OTLP exporter). Export must not block:
/// it is called on the request path.
class SpanExporter {
public:
    virtual ~SpanExporter() = default;
    virtual void Export(FinishedSpan span) = 0;
};

/// Installs the process's exporter (null: none, the default). Thread-safe.
void SetSpanExporter(std::shared_ptr<SpanExporter> exporter);
/// Hands `span` to the installed exporter, if any; `sampled` false drops it.
void ExportSpan(FinishedSpan span, bool sampled = true);

}  // namespace keel::telemetry
