#include <keel/telemetry/otlp.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>

#include <algorithm>

#include <keel/core/ambient.hpp>
#include <keel/core/log.hpp>
#include <keel/core/runtime.hpp>

namespace keel::telemetry {
namespace {

void AppendKeyValue(std::string& out, std::string_view key, const AttributeValue& value) {
    out += "{\"key\":";
    json::AppendQuoted(out, key);
    if (const auto* text = std::get_if<std::string>(&value)) {
        out += ",\"value\":{\"stringValue\":";
        json::AppendQuoted(out, *text);
    } else {
        out += ",\"value\":{\"intValue\":\"" + std::to_string(std::get<std::int64_t>(value)) + "\"";
    }
    out += "}}";
}

std::string UnixNanos(std::chrono::system_clock::time_point t) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// OTLP's SpanKind numbers: SPAN_KIND_INTERNAL = 1 ... SPAN_KIND_CONSUMER = 5.
int KindNumber(SpanKind kind) { return static_cast<int>(kind) + 1; }

void AppendSpan(std::string& out, const FinishedSpan& span) {
    out += "{\"traceId\":\"" + span.trace_id + "\",\"spanId\":\"" + span.span_id + "\"";
    if (!span.parent_span_id.empty()) out += ",\"parentSpanId\":\"" + span.parent_span_id + "\"";
    out += ",\"name\":";
    json::AppendQuoted(out, span.name);
    out += ",\"kind\":" + std::to_string(KindNumber(span.kind));
    out += ",\"startTimeUnixNano\":\"" + UnixNanos(span.start) + "\"";
    const auto end =
        span.start + std::chrono::duration_cast<std::chrono::system_clock::duration>(span.duration);
    out += ",\"endTimeUnixNano\":\"" + UnixNanos(end) + "\",\"attributes\":[";
    for (std::size_t i = 0; i < span.attributes.size(); ++i) {
        if (i > 0) out += ",";
        AppendKeyValue(out, span.attributes[i].first, span.attributes[i].second);
    }
    out += "]";
    if (span.error) out += ",\"status\":{\"code\":2}";  // STATUS_CODE_ERROR
    out += "}";
}

}  // namespace

std::string EncodeOtlpJson(const OtlpResource& resource, std::span<const FinishedSpan> spans) {
    std::string out = "{\"resourceSpans\":[{\"resource\":{\"attributes\":[";
    AppendKeyValue(out, "service.name", resource.service_name);
    out += ",";
    AppendKeyValue(out, "service.instance.id", resource.instance_id);
    if (!resource.version.empty()) {
        out += ",";
        AppendKeyValue(out, "service.version", resource.version);
    }
    out += "]},\"scopeSpans\":[{\"scope\":{\"name\":\"keel\"},\"spans\":[";
    for (std::size_t i = 0; i < spans.size(); ++i) {
        if (i > 0) out += ",";
        AppendSpan(out, spans[i]);
    }
    out += "]}]}]}";
    return out;
}

BatchSpanExporter::BatchSpanExporter(asio::any_io_executor executor, OtlpResource resource,
                                     BatchOptions options, BatchSender sender, Registry& registry)
    : executor_(std::move(executor)),
      resource_(std::move(resource)),
      options_(options),
      sender_(std::move(sender)),
      exported_(registry.GetCounter("keel_trace_spans_exported_total",
                                    "Spans accepted by the OTLP receiver.")),
      dropped_full_(registry.GetCounter("keel_trace_spans_dropped_total",
                                        "Spans not exported, by reason.",
                                        {{"reason", "queue_full"}})),
      dropped_failed_(registry.GetCounter("keel_trace_spans_dropped_total",
                                          "Spans not exported, by reason.",
                                          {{"reason", "export_failed"}})) {
    options_.max_batch = std::max<std::size_t>(1, options_.max_batch);
    // The exporter's own calls belong to no request: they must not trace themselves.
    executor_ = ambient::With(executor_, nullptr);
}

std::shared_ptr<BatchSpanExporter> BatchSpanExporter::Start(asio::any_io_executor executor,
                                                            OtlpResource resource,
                                                            BatchOptions options,
                                                            BatchSender sender,
                                                            Registry& registry) {
    auto exporter = std::make_shared<BatchSpanExporter>(std::move(executor), std::move(resource),
                                                        options, std::move(sender), registry);
    Spawn(exporter->executor_, exporter->Tick(), "span export timer");
    return exporter;
}

void BatchSpanExporter::Export(FinishedSpan span) {
    bool full_batch = false;
    {
        std::lock_guard lock(mutex_);
        if (queue_.size() >= options_.max_queue) {
            dropped_full_.Inc();
            return;
        }
        queue_.push_back(std::move(span));
        full_batch = queue_.size() >= options_.max_batch;
    }
    if (full_batch) Kick();
}

std::size_t BatchSpanExporter::Queued() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

// Posted, never run inline: Export is called on the request path.
void BatchSpanExporter::Kick() {
    if (stopped_ || sending_.exchange(true)) return;
    auto self = shared_from_this();
    asio::post(executor_,
               [self] { Spawn(self->executor_, self->SendQueued(false), "span export"); });
}

Task<void> BatchSpanExporter::SendBatch(std::vector<FinishedSpan> batch) {
    const std::string body = EncodeOtlpJson(resource_, batch);
    bool ok = false;
    std::string error;
    try {
        ok = co_await sender_(body);
    } catch (const std::exception& e) {
        error = e.what();
    }
    if (ok) {
        exported_.Inc(batch.size());
        co_return;
    }
    dropped_failed_.Inc(batch.size());
    log::Warn("span export failed; spans dropped",
              {{"spans", static_cast<std::int64_t>(batch.size())}, {"error", error}});
}

// One sender at a time (sending_): it takes full batches until there are none left, and
// with `partial` (the interval has passed) what is left too.
Task<void> BatchSpanExporter::SendQueued(bool partial) {
    auto self = shared_from_this();
    for (;;) {
        std::vector<FinishedSpan> batch;
        {
            std::lock_guard lock(mutex_);
            const bool take = partial || queue_.size() >= options_.max_batch;
            while (take && !queue_.empty() && batch.size() < options_.max_batch) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        if (batch.empty()) {
            sending_ = false;
            // A batch filled between the check and the flag is sent by whoever set the
            // flag next, or here.
            const bool more = partial ? Queued() > 0 : Queued() >= options_.max_batch;
            if (!more || sending_.exchange(true)) co_return;
            continue;
        }
        co_await SendBatch(std::move(batch));
    }
}

Task<void> BatchSpanExporter::Tick() {
    auto self = shared_from_this();
    asio::steady_timer timer(executor_);
    while (!stopped_) {
        timer.expires_after(options_.interval);
        co_await timer.async_wait(asio::use_awaitable);
        if (!stopped_ && Queued() > 0 && !sending_.exchange(true)) co_await SendQueued(true);
    }
}

Task<void> BatchSpanExporter::Flush(std::chrono::milliseconds limit) {
    auto self = shared_from_this();
    stopped_ = true;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    // The sender running now finishes its batches first.
    while (sending_.exchange(true)) {
        if (std::chrono::steady_clock::now() >= deadline) co_return;
        timer.expires_after(std::chrono::milliseconds(10));
        co_await timer.async_wait(asio::use_awaitable);
    }
    // What is queued now, not what sending adds (a receiver that is itself traced).
    std::size_t left = Queued();
    while (left > 0 && std::chrono::steady_clock::now() < deadline) {
        std::vector<FinishedSpan> batch;
        {
            std::lock_guard lock(mutex_);
            while (!queue_.empty() && batch.size() < std::min(left, options_.max_batch)) {
                batch.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        if (batch.empty()) break;
        left -= batch.size();
        co_await SendBatch(std::move(batch));
    }
    sending_ = false;
}

}  // namespace keel::telemetry
