#pragma once
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <keel/core/asio.hpp>
#include <keel/core/unavailable.hpp>
#include <keel/http/message.hpp>

namespace keel::http {

/// The upstream could not be reached or did not answer within the deadline.
class ClientError final : public UnavailableError {
public:
    using UnavailableError::UnavailableError;
};

/// HTTP/1.1 client with a keep-alive pool per upstream (host:port) and a deadline
/// per call that covers connect, write and read. Plain http:// only: traffic between
/// services stays on the private network behind the gateway.
/// Thread-safe; share one per process.
class Client final {
public:
    explicit Client(asio::any_io_executor executor, std::size_t max_idle_per_host = 32);
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Sends `method url` with `headers` and `body`; throws ClientError on connection
    /// failure or deadline. Any HTTP status is a normal return.
    /// Inside a traced piece of work (keel/core/ambient.hpp: a request, an event's handling)
    /// the call is a client span: it sends a child `traceparent` (and the correlation id as
    /// X-Request-Id) unless `headers` has its own, and logs one span line ("call", span
    /// "<METHOD> <peer>", span_kind client) that is also exported. `peer` names the
    /// downstream in that span ("" : host:port); the URL's path and query are never logged
    /// (some APIs carry secrets there).
    Task<Response> Send(Verb method, std::string_view url,
                        std::vector<std::pair<std::string, std::string>> headers, std::string body,
                        std::chrono::milliseconds deadline, std::string peer);
    // An overload, not a default argument: GCC 12 frees a class-type temporary made in a
    // full-expression with co_await twice (libs/README.md).
    Task<Response> Send(Verb method, std::string_view url,
                        std::vector<std::pair<std::string, std::string>> headers, std::string body,
                        std::chrono::milliseconds deadline) {
        return Send(method, url, std::move(headers), std::move(body), deadline, std::string());
    }
    Task<Response> Get(std::string_view url, std::chrono::milliseconds deadline,
                       std::vector<std::pair<std::string, std::string>> headers = {}) {
        return Send(Verb::get, url, std::move(headers), {}, deadline);
    }

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace keel::http
