#include <keel/http/client.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include <map>
#include <mutex>

namespace keel::http {
namespace {
using tcp = asio::ip::tcp;
namespace beast = boost::beast;
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
};

Client::Client(asio::any_io_executor executor, std::size_t max_idle_per_host)
    : impl_(std::make_shared<Impl>()) {
    impl_->executor = std::move(executor);
    impl_->max_idle = max_idle_per_host;
}

Client::~Client() = default;

Task<Response> Client::Send(Verb method, std::string_view url,
                            std::vector<std::pair<std::string, std::string>> headers,
                            std::string body, std::chrono::milliseconds deadline) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed || parsed->scheme() != "http")
        throw ClientError("unsupported URL: " + std::string(url));
    const std::string host(parsed->host());
    const std::string port = parsed->has_port() ? std::string(parsed->port()) : "80";
    std::string target(parsed->encoded_target());
    if (target.empty()) target = "/";
    const std::string key = host + ":" + port;

    Request request{method, target, 11};
    request.set(beast_http::field::host, key);
    for (auto& [name, value] : headers) request.set(name, value);
    request.body() = std::move(body);
    request.prepare_payload();
    request.keep_alive(true);

    auto impl = impl_;
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
            throw ClientError(std::string(beast_http::to_string(method)) + " " + std::string(url) +
                              ": " + ec.message());
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
