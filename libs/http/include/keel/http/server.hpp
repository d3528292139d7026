#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <keel/core/asio.hpp>
#include <keel/http/router.hpp>
#include <keel/telemetry/metrics.hpp>

namespace keel::http {

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  ///< 0: any free port (tests)
    std::string service = "keel";
    std::size_t max_header_bytes = std::size_t{8} * 1024;
    std::size_t max_body_bytes = std::size_t{1024} * 1024;
    std::chrono::milliseconds read_timeout{10'000};  ///< one whole request
    std::chrono::milliseconds idle_timeout{75'000};  ///< keep-alive between requests
    std::size_t max_connections = 10'000;
    std::chrono::milliseconds drain_timeout{10'000};
    bool access_log = true;
    std::string service_token;  ///< required by Access::kService routes
};

/// HTTP/1.1 server on Beast with one coroutine per connection, each on its own
/// strand. Serves the router's routes plus /healthz, /readyz and /metrics, and turns
/// every failure into problem+json. Middleware that runs on every request: request id
/// (X-Request-Id kept or made), access log, metrics, authentication per route, header
/// and body size limits, read and idle timeouts, connection limit.
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
