#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <keel/core/asio.hpp>
#include <keel/core/config.hpp>
#include <keel/http/admission.hpp>
#include <keel/http/client_address.hpp>
#include <keel/http/router.hpp>
#include <keel/telemetry/metrics.hpp>

namespace keel::http {

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  ///< 0: any free port (tests)
    std::string service = "keel";
    std::size_t max_header_bytes = std::size_t{8} * 1024;
    std::size_t max_body_bytes = std::size_t{1024} * 1024;
    /// Keep-alive: how long a connection may wait for the first byte of its next request.
    std::chrono::milliseconds idle_timeout{75'000};
    /// From a request's first byte to the end of its headers (slow-loris guard): a client
    /// that trickles its headers is disconnected when it passes, however steady it is.
    /// Also how long a new connection may wait before its first byte.
    std::chrono::milliseconds header_timeout{10'000};
    /// From the end of the headers to the end of the body.
    std::chrono::milliseconds body_timeout{10'000};
    /// Writing one response.
    std::chrono::milliseconds write_timeout{10'000};
    std::size_t max_connections = 10'000;
    /// The longest a request may take: its deadline (RequestContext::Deadline) is this, or
    /// the caller's shorter X-Request-Timeout-Ms, after it arrived.
    std::chrono::milliseconds request_timeout{10'000};
    /// Overload control: asked before each request (never the probes); null admits all.
    std::shared_ptr<AdmissionControl> admission;
    /// Retry-After of a shed request, in seconds.
    int shed_retry_after_s = 1;
    std::chrono::milliseconds drain_timeout{10'000};
    bool access_log = true;
    std::string service_token;  ///< required by Access::kService routes
    /// Peers whose X-Real-IP / X-Forwarded-For name the client (see ClientAddress).
    /// Loopback by default: the gateway runs on the same machine.
    std::vector<AddressRange> trusted_proxies = LoopbackRanges();
};

/// Reads the server's own settings from the environment into `options` (defaults as
/// above): TRUSTED_PROXIES [127.0.0.0/8,::1] (addresses or CIDR blocks, comma or space
/// separated; "none": trust no one), HTTP_IDLE_TIMEOUT_MS [75000], HTTP_HEADER_TIMEOUT_MS [10000],
/// HTTP_BODY_TIMEOUT_MS [10000], HTTP_WRITE_TIMEOUT_MS [10000], HTTP_REQUEST_TIMEOUT_MS [10000].
/// Problems are recorded in `config` (malformed TRUSTED_PROXIES throws core::ConfigError at once).
void ReadServerSettings(core::EnvConfig& config, ServerOptions& options);
/// ReadServerSettings from the process environment; throws core::ConfigError.
void ReadServerEnv(ServerOptions& options);

/// HTTP/1.1 server on Beast with one coroutine per connection, each on its own
/// strand. Serves the router's routes plus /healthz, /readyz and /metrics, and turns
/// every failure into problem+json. Middleware that runs on every request: request id
/// (X-Request-Id kept or made), access log, metrics, authentication per route, header
/// and body size limits, idle/header/body/write timeouts, connection limit, a deadline per
/// request (X-Request-Timeout-Ms: an expired one is answered 504 without running the
/// handler), overload control (ServerOptions::admission: excess requests get 503 +
/// Retry-After before authentication or any handler work); the
/// client address from trusted proxies only; metric labels from a bounded set (unknown
/// methods are "OTHER" and get 501, unmatched paths are "unmatched"); `Cache-Control:
/// no-store` on every response of a non-public route unless the handler set one, and
/// `X-Content-Type-Options: nosniff` on all.
/// Start() and Drain() are called from one thread; the rest is thread-safe.
class Server final {
public:
    Server(asio::io_context& context, Router router, ServerOptions options,
           std::shared_ptr<Authenticator> authenticator = nullptr,
           telemetry::Registry& registry = telemetry::DefaultRegistry());
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Dependencies that must answer for /readyz to say 200 (e.g. a database ping).
    void SetReadinessCheck(std::function<Task<bool>()> check);
    /// Binds and starts accepting; throws std::system_error when the port is taken.
    void Start();
    std::uint16_t Port() const;
    /// Stops accepting, turns /readyz to 503, lets in-flight requests finish up to the
    /// drain deadline, closes idle keep-alive connections, then everything left.
    Task<void> Drain();

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace keel::http
