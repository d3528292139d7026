#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include <keel/core/asio.hpp>
#include <keel/telemetry/metrics.hpp>
#include <keel/telemetry/trace.hpp>

namespace keel::telemetry {

/// The resource every exported span belongs to (OTLP resource attributes service.name,
/// service.instance.id, service.version).
struct OtlpResource {
    std::string service_name;
    std::string instance_id;
    std::string version;
};

/// The OTLP/HTTP JSON body (ExportTraceServiceRequest, protobuf JSON mapping with OTLP's
/// rules: hex trace and span ids, enums as numbers, 64-bit integers as strings) of `spans`.
std::string EncodeOtlpJson(const OtlpResource& resource, std::span<const FinishedSpan> spans);

/// OpenTelemetry's batch span processor settings (the OTEL_BSP_* variables).
struct BatchOptions {
    std::size_t max_queue = 2048;              ///< spans waiting; more are dropped and counted
    std::size_t max_batch = 512;               ///< spans per export request
    std::chrono::milliseconds interval{5000};  ///< the longest a span waits for a batch
};

/// Sends one encoded batch; true when the receiver accepted it. Throwing counts as false.
using BatchSender = std::function<Task<bool>(std::string body)>;

/// Exports spans in batches, off the request path: Export only queues (a bounded queue:
/// spans beyond max_queue are dropped, counted in keel_trace_spans_dropped_total
/// {reason="queue_full"}); a batch leaves when max_batch spans wait or every `interval`, by
/// a coroutine on the executor. A failed send is not retried: its spans are counted as
/// dropped {reason="export_failed"}, so that a collector that is away costs bounded memory.
/// keel_trace_spans_exported_total counts the accepted ones. Thread-safe.
class BatchSpanExporter final : public SpanExporter,
                                public std::enable_shared_from_this<BatchSpanExporter> {
public:
    /// Starts the periodic sending on `executor`; the exporter lives until Flush().
    static std::shared_ptr<BatchSpanExporter> Start(asio::any_io_executor executor,
                                                    OtlpResource resource, BatchOptions options,
                                                    BatchSender sender,
                                                    Registry& registry = DefaultRegistry());
    void Export(FinishedSpan span) override;
    /// Stops the periodic sending and sends every span queued, taking at most `limit`
    /// (at shutdown, after the server and the bus have drained).
    Task<void> Flush(std::chrono::milliseconds limit);
    std::size_t Queued() const;

    /// Use Start().
    BatchSpanExporter(asio::any_io_executor executor, OtlpResource resource, BatchOptions options,
                      BatchSender sender, Registry& registry);

private:
    void Kick();
    Task<void> SendQueued(bool partial);
    Task<void> SendBatch(std::vector<FinishedSpan> batch);
    Task<void> Tick();

    asio::any_io_executor executor_;
    OtlpResource resource_;
    BatchOptions options_;
    BatchSender sender_;
    Counter& exported_;
    Counter& dropped_full_;
    Counter& dropped_failed_;
    mutable std::mutex mutex_;
    std::deque<FinishedSpan> queue_;
    std::atomic<bool> sending_{false};
    std::atomic<bool> stopped_{false};
};

}  // namespace keel::telemetry
