#include <keel/telemetry/trace.hpp>

#include <array>
#include <atomic>

#include <keel/core/uuid.hpp>

namespace keel::telemetry {
namespace {

bool IsLowerHex(std::string_view text) {
    for (const char c : text)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

bool IsAllZero(std::string_view text) {
    return text.find_first_not_of('0') == std::string_view::npos;
}

int HexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

std::string NonZeroHex(std::size_t bytes) {
    for (;;) {
        std::string id = RandomHex(bytes);
        if (!IsAllZero(id)) return id;
    }
}

std::atomic<std::shared_ptr<SpanExporter>>& Installed() {
    static std::atomic<std::shared_ptr<SpanExporter>> exporter;
    return exporter;
}

}  // namespace

std::optional<SpanContext> ParseTraceparent(std::string_view p) {
    if (p.size() < 55) return std::nullopt;
    const std::string_view version = p.substr(0, 2);
    if (!IsLowerHex(version) || version == "ff") return std::nullopt;
    if (version == "00" ? p.size() != 55 : (p.size() > 55 && p[55] != '-')) return std::nullopt;
    if (p[2] != '-' || p[35] != '-' || p[52] != '-') return std::nullopt;
    const std::string_view trace = p.substr(3, 32);
    const std::string_view span = p.substr(36, 16);
    const std::string_view flags = p.substr(53, 2);
    if (!IsLowerHex(trace) || IsAllZero(trace) || !IsLowerHex(span) || IsAllZero(span) ||
        !IsLowerHex(flags))
        return std::nullopt;
    return SpanContext{std::string(trace), std::string(span), (HexValue(flags[1]) & 1) != 0};
}

std::string FormatTraceparent(const SpanContext& context) {
    return "00-" + context.trace_id + "-" + context.span_id + (context.sampled ? "-01" : "-00");
}

std::string NewTraceId() { return NonZeroHex(16); }
std::string NewSpanId() { return NonZeroHex(8); }

SpanContext ChildOf(const std::optional<SpanContext>& parent) {
    if (!parent) return SpanContext{NewTraceId(), NewSpanId(), true};
    return SpanContext{parent->trace_id, NewSpanId(), parent->sampled};
}

std::string_view KindName(SpanKind kind) {
    static constexpr std::array<std::string_view, 5> kNames = {"internal", "server", "client",
                                                               "producer", "consumer"};
    return kNames[static_cast<std::size_t>(kind)];
}

void SetSpanExporter(std::shared_ptr<SpanExporter> exporter) {
    Installed().store(std::move(exporter));
}

void ExportSpan(FinishedSpan span, bool sampled) {
    if (!sampled) return;
    if (const auto exporter = Installed().load()) exporter->Export(std::move(span));
}

}  // namespace keel::telemetry
