#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include <keel/auth/jwt.hpp>
#include <keel/bus/bus.hpp>
#include <keel/core/config.hpp>
#include <keel/core/runtime.hpp>
#include <keel/http/client.hpp>
#include <keel/http/router.hpp>
#include <keel/http/server.hpp>
#include <keel/pg/migrations.hpp>
#include <keel/pg/pool.hpp>
#include <keel/redis/client.hpp>
#include <keel/resilience/adaptive_limiter.hpp>
#include <keel/resilience/downstream.hpp>
#include <keel/service/trace_export.hpp>

namespace keel::service {

/// Settings every service reads from its environment (defaults in brackets):
/// PORT [8080], HOST [127.0.0.1], INSTANCE_ID [<service>-<pid>], IO_THREADS [cores],
/// LOG_LEVEL [info], ACCESS_LOG [true], DRAIN_TIMEOUT_MS [10000], PG_DSN (required),
/// PG_POOL_SIZE [16], PG_STATEMENT_TIMEOUT_MS [15000], PG_LOCK_TIMEOUT_MS [5000],
/// PG_IDLE_IN_TX_TIMEOUT_MS [60000] (0 = off; see pg::PoolOptions), REDIS_HOST [127.0.0.1],
/// REDIS_PORT [6379], REDIS_PASSWORD, KEEL_SERVICE_TOKEN (required: guards /internal routes),
/// MAX_BODY_BYTES [1048576], MAX_CONNECTIONS [10000]; the HTTP server's (see
/// http::ReadServerEnv): TRUSTED_PROXIES [loopback], HTTP_IDLE_TIMEOUT_MS,
/// HTTP_HEADER_TIMEOUT_MS, HTTP_BODY_TIMEOUT_MS, HTTP_WRITE_TIMEOUT_MS; and the event bus's
/// (see keel::bus::ReadBusSettings): NATS_URL, NATS_USER, NATS_PASSWORD, BUS_REPLICAS,
/// BUS_RETENTION_S, BUS_STREAM_MAX_BYTES, BUS_DUPLICATE_WINDOW_S, BUS_RELAY_POLL_MS,
/// BUS_RELAY_LEASE_MS, BUS_TRAIL; overload control and breakers (docs/resilience.md):
/// OVERLOAD_CONTROL [on] (on|off: an adaptive concurrency limit sheds excess requests with 503),
/// OVERLOAD_MIN_LIMIT [8], OVERLOAD_MAX_LIMIT [1000], OVERLOAD_INITIAL_LIMIT [64], BREAKERS [on]
/// (on|off: circuit breakers on outgoing calls; off only for experiments), HTTP_REQUEST_TIMEOUT_MS;
/// span export (see TraceExportSettings): OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, ...
struct CommonSettings {
    std::string service;
    std::string instance_id;
    std::string host;
    std::uint16_t port = 8080;
    std::size_t io_threads = 0;
    bool access_log = true;
    std::chrono::milliseconds drain_timeout{10'000};
    std::string pg_dsn;
    std::size_t pg_pool_size = 16;
    std::chrono::milliseconds pg_statement_timeout{15'000};
    std::chrono::milliseconds pg_lock_timeout{5'000};
    std::chrono::milliseconds pg_idle_in_transaction_timeout{60'000};
    std::string redis_host;
    std::uint16_t redis_port = 6379;
    std::string redis_password;
    std::string service_token;
    std::size_t max_body_bytes = std::size_t{1024} * 1024;
    std::size_t max_connections = 10'000;
    bus::BusSettings bus;
    bool overload_control = true;
    resilience::LimiterOptions limiter;
    bool breakers = true;
    TraceExportSettings traces;
};

/// How a service verifies access tokens: AUTH_JWKS_URL (required), JWT_ISSUER
/// [keel-auth], JWT_AUDIENCE [keel].
struct TokenSettings {
    std::string jwks_url;
    auth::VerifyOptions verify;
};
TokenSettings ReadTokenSettings(core::EnvConfig& config);

/// Reads CommonSettings; problems are recorded in `config` (see EnvConfig::Finish).
CommonSettings ReadCommonSettings(core::EnvConfig& config, const std::string& service);

/// The wiring every service shares: runtime, logging, PostgreSQL pool (migrated at
/// start), Redis client, HTTP server with readiness on both, graceful drain on
/// SIGTERM. main() builds an App, adds its routes, and returns Serve().
class App final {
public:
    explicit App(CommonSettings settings);
    App(const App&) = delete;
    App& operator=(const App&) = delete;

    Runtime& GetRuntime() { return runtime_; }
    const CommonSettings& Settings() const { return settings_; }
    std::shared_ptr<pg::Pool> Pg() { return pg_; }
    std::shared_ptr<redis::Client> Redis() { return redis_; }
    std::shared_ptr<http::Client> HttpClient() { return http_client_; }
    /// Calls to another service (or an outside API) under the resilience policies: deadline,
    /// circuit breaker (unless BREAKERS=off), bulkhead, retries within a budget. One per
    /// downstream; `options.name` labels its metrics.
    std::shared_ptr<resilience::Downstream> Downstream(resilience::DownstreamOptions options);
    /// The service's event bus: declare Publishes/Subscribe, then StartBus().
    std::shared_ptr<bus::Bus> Bus() { return bus_; }
    /// Connects to NATS, declares streams and consumers, starts relay and consumers.
    /// Serve() then reports not ready while NATS is unreachable and stops the bus
    /// after the HTTP drain.
    void StartBus();

    /// Verifies access tokens locally with auth's keys: JWKS fetched on the first token
    /// with an unknown kid, and every 5 minutes.
    std::shared_ptr<http::Authenticator> TokenAuthenticator(const TokenSettings& settings);
    /// Runs `task` to completion on the io_context before serving starts (migrations,
    /// key loading, first JWKS fetch). Exceptions propagate.
    void RunBeforeServing(Task<void> task);
    /// Runs `task` every `period` while the service runs; failures are logged.
    void Every(std::chrono::milliseconds period, std::function<Task<void>()> task);
    /// Applies the service's migrations (blocking, at start).
    void Migrate(std::span<const pg::Migration> migrations);
    /// Starts the HTTP server and blocks until a signal has drained it; returns the exit code.
    int Serve(http::Router router, std::shared_ptr<http::Authenticator> authenticator);

private:
    CommonSettings settings_;
    Runtime runtime_;
    std::shared_ptr<pg::Pool> pg_;
    std::shared_ptr<redis::Client> redis_;
    std::shared_ptr<http::Client> http_client_;
    std::shared_ptr<bus::Bus> bus_;
    bool bus_started_ = false;
    FlushSpans flush_spans_;  ///< null: span export off
};

/// The origin of events written while handling `req`: its request id as correlation
/// id, its server span as the events' traceparent (their consumers continue the trace from
/// it), and a hop named after the route.
bus::Origin RequestOrigin(const bus::Bus& bus, const http::RequestContext& req);

/// main() body shared by services: builds the service, reports a bad configuration
/// as one clear message and exit code 2, logs fatal start-up errors with exit 1.
/// `keel-<service> --version` prints the build (commit, build time) and exits 0; any other
/// argument is refused with exit code 2, since configuration comes from the environment.
int RunMain(int argc, char** argv, const std::string& service, int (*run)(core::EnvConfig&));
/// The same without arguments.
int RunMain(const std::string& service, int (*run)(core::EnvConfig&));

}  // namespace keel::service
