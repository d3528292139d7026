#include <keel/service/trace_export.hpp>

#include <keel/core/log.hpp>
#include <keel/telemetry/otlp.hpp>

namespace keel::service {

TraceExportSettings ReadTraceExportSettings(core::EnvConfig& config, const std::string& service) {
    TraceExportSettings s;
    std::string endpoint = config.String("OTEL_EXPORTER_OTLP_ENDPOINT", "");
    while (endpoint.ends_with('/')) endpoint.pop_back();
    s.url = config.String("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "");
    if (s.url.empty() && !endpoint.empty()) s.url = endpoint + "/v1/traces";
    if (!s.url.empty() && !s.url.starts_with("http://"))
        config.AddProblem("the OTLP endpoint must be a plain http:// URL (got " + s.url + ")");
    config.OneOf("OTEL_EXPORTER_OTLP_PROTOCOL", {"http/json"}, "http/json");
    s.service_name = config.String("OTEL_SERVICE_NAME", service);
    s.max_queue =
        static_cast<std::size_t>(config.Int("OTEL_BSP_MAX_QUEUE_SIZE", 2048, 1, 1'000'000));
    s.max_batch =
        static_cast<std::size_t>(config.Int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512, 1, 100'000));
    if (s.max_batch > s.max_queue)
        config.AddProblem("OTEL_BSP_MAX_EXPORT_BATCH_SIZE must not exceed OTEL_BSP_MAX_QUEUE_SIZE");
    s.interval =
        std::chrono::milliseconds(config.Int("OTEL_BSP_SCHEDULE_DELAY", 5000, 1, 3'600'000));
    s.timeout =
        std::chrono::milliseconds(config.Int("OTEL_BSP_EXPORT_TIMEOUT", 10'000, 1, 600'000));
    return s;
}

namespace {

// The last flush: afterwards the exporter (and the HTTP client with its pooled socket) must
// not outlive the io_context it was made on, as it would in the process-wide slot.
Task<void> FlushAndUninstall(std::shared_ptr<telemetry::BatchSpanExporter> exporter,
                             std::chrono::milliseconds limit) {
    co_await exporter->Flush(limit);
    telemetry::SetSpanExporter(nullptr);
}

}  // namespace

FlushSpans StartTraceExport(const TraceExportSettings& settings, asio::any_io_executor executor,
                            std::shared_ptr<http::Client> client, std::string instance_id,
                            std::string version) {
    if (settings.url.empty()) return nullptr;
    telemetry::BatchSender send = [client = std::move(client), url = settings.url,
                                   timeout = settings.timeout](std::string body) -> Task<bool> {
        std::vector<std::pair<std::string, std::string>> headers = {
            {"Content-Type", "application/json"}};
        const http::Response response = co_await client->Send(
            http::Verb::post, url, std::move(headers), std::move(body), timeout);
        co_return response.result_int() / 100 == 2;
    };
    telemetry::OtlpResource resource{settings.service_name, std::move(instance_id),
                                     std::move(version)};
    telemetry::BatchOptions batch;
    batch.max_queue = settings.max_queue;
    batch.max_batch = settings.max_batch;
    batch.interval = settings.interval;
    auto exporter = telemetry::BatchSpanExporter::Start(std::move(executor), std::move(resource),
                                                        batch, std::move(send));
    telemetry::SetSpanExporter(exporter);
    log::Info("exporting spans", {{"url", settings.url}});
    return
        [exporter](std::chrono::milliseconds limit) { return FlushAndUninstall(exporter, limit); };
}

}  // namespace keel::service
