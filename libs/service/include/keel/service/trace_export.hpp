#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <keel/core/asio.hpp>
#include <keel/core/config.hpp>
#include <keel/http/client.hpp>

namespace keel::service {

/// OTLP/HTTP JSON span export, from OpenTelemetry's standard variables (defaults in
/// brackets): OTEL_EXPORTER_OTLP_ENDPOINT (unset: spans are only logged; else spans go to
/// <endpoint>/v1/traces), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the whole URL, wins over the
/// former), OTEL_EXPORTER_OTLP_PROTOCOL [http/json] (the only one supported),
/// OTEL_SERVICE_NAME [the service's name], OTEL_BSP_MAX_QUEUE_SIZE [2048],
/// OTEL_BSP_MAX_EXPORT_BATCH_SIZE [512], OTEL_BSP_SCHEDULE_DELAY [5000 ms],
/// OTEL_BSP_EXPORT_TIMEOUT [10000 ms]. Plain http:// only (a collector on the private network).
struct TraceExportSettings {
    std::string url;  ///< "" : export off
    std::string service_name;
    std::size_t max_queue = 2048;
    std::size_t max_batch = 512;
    std::chrono::milliseconds interval{5000};
    std::chrono::milliseconds timeout{10'000};
};

/// Problems are recorded in `config` (see EnvConfig::Finish).
TraceExportSettings ReadTraceExportSettings(core::EnvConfig& config, const std::string& service);

/// Flushes the spans still queued, taking at most the given time (at shutdown).
using FlushSpans = std::function<Task<void>(std::chrono::milliseconds)>;

/// Starts a telemetry::BatchSpanExporter and installs it (telemetry::SetSpanExporter) when
/// settings.url is set; its sends go through `client` on `executor`. Returns its flush, or
/// null when export is off.
FlushSpans StartTraceExport(const TraceExportSettings& settings, asio::any_io_executor executor,
                            std::shared_ptr<http::Client> client, std::string instance_id,
                            std::string version);

}  // namespace keel::service
