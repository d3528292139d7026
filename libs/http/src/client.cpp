#include <keel/http/client.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include <cstdlib>
#include <map>
#include <mutex>

#include <keel/core/ambient.hpp>
#include <keel/core/log.hpp>
#include <keel/telemetry/trace.hpp>

namespace keel::http {
namespace {
using tcp = asio::ip::tcp;
namespace beast = boost::beast;
}  // namespace

namespace {

struct Target {
    std::string host;
    std::string port;
    std::string target;
    std::string key;  ///< host:port
    std::string url;  ///< as given, for error messages
};

Target ParseTarget(std::string_view url) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed || parsed->scheme() != "http")
        throw ClientError("unsupported URL: " + std::string(url));
    Target t;
    t.host = std::string(parsed->host());
    t.port = parsed->has_port() ? std::string(parsed->port()) : "80";
    t.target = std::string(parsed->encoded_target());
    if (t.target.empty()) t.target = "/";
    t.key = t.host + ":" + t.port;
    t.url = std::string(url);
    return t;
}

bool HasHeader(const std::vector<std::pair<std::string, std::string>>& headers,
               std::string_view name) {
    for (const auto& header : headers)
        if (beast::iequals(header.first, name)) return true;
    return false;
}

// The client span of one call made inside a traced piece of work (ambient context).
struct ClientSpan {
    ambient::Context parent;  // copied: the call's co_awaits may outlive the pointer
    std::string span_id;      // "" when there is no trace: no span
    std::string name;
    std::chrono::system_clock::time_point start_wall;
    std::chrono::steady_clock::time_point start;

    void Begin(Verb method, const std::string& peer, const Target& target,
               std::vector<std::pair<std::string, std::string>>& headers) {
        const ambient::Context* current = ambient::Current();
        if (current == nullptr || current->trace_id.empty()) return;
        parent = *current;
        span_id = telemetry::NewSpanId();
        name =
            std::string(beast_http::to_string(method)) + " " + (peer.empty() ? target.key : peer);
        start_wall = std::chrono::system_clock::now();
        start = std::chrono::steady_clock::now();
        if (!HasHeader(headers, "traceparent"))
            headers.emplace_back("traceparent", telemetry::FormatTraceparent(
                                                    {parent.trace_id, span_id, parent.sampled}));
        if (!HasHeader(headers, "X-Request-Id") && !parent.correlation_id.empty())
            headers.emplace_back("X-Request-Id", parent.correlation_id);
    }

    void End(Verb method, const Target& target, unsigned status, const std::string& error) const {
        if (span_id.empty()) return;
        const auto duration = std::chrono::steady_clock::now() - start;
        const double ms = std::chrono::duration<double, std::milli>(duration).count();
        log::Info("call", {{"span", name},
                           {"span_kind", "client"},
                           {"trace_id", parent.trace_id},
                           {"span_id", span_id},
                           {"parent_span_id", parent.span_id},
                           {"correlation_id", parent.correlation_id},
                           {"server", target.key},
                           {"status", static_cast<std::int64_t>(status)},
                           {"error", error},
                           {"duration_ms", ms}});
        telemetry::FinishedSpan span;
        span.name = name;
        span.kind = telemetry::SpanKind::kClient;
        span.trace_id = parent.trace_id;
        span.span_id = span_id;
        span.parent_span_id = parent.span_id;
        span.start = start_wall;
        span.duration = duration;
        span.error = !error.empty() || status >= 500;
        span.attributes = {{"http.request.method", std::string(beast_http::to_string(method))},
                           {"server.address", target.host},
                           {"server.port", std::int64_t{std::atoi(target.port.c_str())}}};
        if (status != 0)
            span.attributes.emplace_back("http.response.status_code", std::int64_t{status});
        telemetry::ExportSpan(std::move(span), parent.sampled);
    }
};

}  // namespace

struct Client::Impl {
    asio::any_io_executor executor;
    std::size_t max_idle;
    std::mutex mutex;
    std::map<std::string, std::vector<std::unique_ptr<beast::tcp_stream>>> idle;

    std::unique_ptr<beast::tcp_stream> TakeIdle(const std::string& key) {
        std::lock_guard lock(mutex);
        auto& pool = idle[key];
        if (pool.empty()) return nullptr;
        auto stream = std::move(pool.back());
        pool.pop_back();
        return stream;
    }
    void GiveBack(const std::string& key, std::unique_ptr<beast::tcp_stream> stream) {
        std::lock_guard lock(mutex);
        auto& pool = idle[key];
        if (pool.size() < max_idle) pool.push_back(std::move(stream));
    }
    Task<Response> Exchange(std::shared_ptr<Impl> self, Verb method, Target target,
                            std::vector<std::pair<std::string, std::string>> headers,
                            std::string body, std::chrono::milliseconds deadline);
};

Client::Client(asio::any_io_executor executor, std::size_t max_idle_per_host)
    : impl_(std::make_shared<Impl>()) {
    impl_->executor = std::move(executor);
    impl_->max_idle = max_idle_per_host;
}

Client::~Client() = default;

Task<Response> Client::Send(Verb method, std::string_view url,
                            std::vector<std::pair<std::string, std::string>> headers,
                            std::string body, std::chrono::milliseconds deadline,
                            std::string peer) {
    const Target target = ParseTarget(url);
    ClientSpan span;
    span.Begin(method, peer, target, headers);
    std::exception_ptr failure;
    std::string error;
    Response response;
    try {
        response = co_await impl_->Exchange(impl_, method, target, std::move(headers),
                                            std::move(body), deadline);
    } catch (const std::exception& e) {
        failure = std::current_exception();
        error = e.what();
    }
    span.End(method, target, failure ? 0 : response.result_int(), error);
    if (failure) std::rethrow_exception(failure);
    co_return response;
}

Task<Response> Client::Impl::Exchange(std::shared_ptr<Impl> self, Verb method, Target target,
                                      std::vector<std::pair<std::string, std::string>> headers,
                                      std::string body, std::chrono::milliseconds deadline) {
    const std::string& host = target.host;
    const std::string& port = target.port;
    const std::string& key = target.key;

    Request request{method, target.target, 11};
    request.set(beast_http::field::host, key);
    for (auto& [name, value] : headers) request.set(name, value);
    request.body() = std::move(body);
    request.prepare_payload();
    request.keep_alive(true);

    Impl* impl = self.get();
    // A pooled connection may have been closed by the server meanwhile; one fresh
    // retry covers that without retrying a request a live server has seen.
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto stream = impl->TakeIdle(key);
        const bool reused = stream != nullptr;
        boost::system::error_code ec;
        if (!stream) {
            stream = std::make_unique<beast::tcp_stream>(impl->executor);
            stream->expires_after(deadline);
            tcp::resolver resolver(impl->executor);
            auto endpoints = co_await resolver.async_resolve(
                host, port, asio::redirect_error(asio::use_awaitable, ec));
            if (ec) throw ClientError("resolve " + key + ": " + ec.message());
            co_await stream->async_connect(endpoints,
                                           asio::redirect_error(asio::use_awaitable, ec));
            if (ec) throw ClientError("connect " + key + ": " + ec.message());
            stream->socket().set_option(tcp::no_delay(true), ec);
        }
        stream->expires_after(deadline);
        co_await beast_http::async_write(*stream, request,
                                         asio::redirect_error(asio::use_awaitable, ec));
        beast::flat_buffer buffer;
        Response response;
        if (!ec)
            co_await beast_http::async_read(*stream, buffer, response,
                                            asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (reused && ec != beast::error::timeout) continue;
            // host:port, never the URL: some APIs carry secrets in the path (Telegram's bot
            // token), and this text reaches log lines and spans.
            throw ClientError(std::string(beast_http::to_string(method)) + " " + key + ": " +
                              ec.message());
        }
        if (response.keep_alive()) {
            stream->expires_never();
            impl->GiveBack(key, std::move(stream));
        }
        co_return response;
    }
    throw ClientError("no connection to " + key);
}

}  // namespace keel::http
