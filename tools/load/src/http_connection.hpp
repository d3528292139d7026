#pragma once
// A lean HTTP/1.1 keep-alive client connection: one request at a time, buffers reused, no
// allocation per request once warm. Enough HTTP for keel's gateway (Content-Length or chunked).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "asio.hpp"

namespace keel::load {

/// Where requests go: a resolved address and the Host header.
struct Target {
    asio::ip::tcp::endpoint endpoint;
    std::string host_header;  // "127.0.0.1:8080"
    std::string base_path;    // the URL's path without a trailing '/', e.g. "" or "/x"
};

/// Parses "http://host[:port][/path]" and resolves host (once, at start). Throws
/// std::runtime_error with a clear message on a bad URL or an unknown host.
Target ResolveTarget(std::string_view url);

/// How a request ended.
enum class Outcome : std::uint8_t { kResponse, kConnect, kTimeout, kOther };

struct Response {
    Outcome outcome = Outcome::kOther;
    unsigned status = 0;
    std::string body;  // reused between requests
};

class HttpConnection final {
public:
    /// `source`: the local address to bind before connecting (spreads per-address limits).
    HttpConnection(asio::any_io_executor executor, const Target& target,
                   std::optional<asio::ip::address> source = std::nullopt);
    HttpConnection(const HttpConnection&) = delete;
    HttpConnection& operator=(const HttpConnection&) = delete;

    /// Sends one request and reads its answer into `out` within `timeout`. `extra_headers` are
    /// whole header lines ending in "\r\n". A reused connection the server closed meanwhile is
    /// reconnected and the request sent again once (nothing of an answer had arrived).
    /// Never throws for network errors: they are the outcome.
    asio::awaitable<void> Request(std::string_view method, std::string_view path,
                                  std::string_view extra_headers, std::string_view body,
                                  std::chrono::milliseconds timeout, Response& out);

    void Close();
    bool IsOpen() const { return socket_.is_open(); }
    std::uint64_t Connects() const { return connects_; }

private:
    asio::awaitable<boost::system::error_code> Connect();
    asio::awaitable<boost::system::error_code> Exchange(Response& out);
    // Reads until the header block is complete; returns its length (0 on error).
    asio::awaitable<boost::system::error_code> ReadMore();
    bool ParseHead(std::size_t head_end, Response& out, std::size_t& content_length, bool& chunked);
    asio::awaitable<boost::system::error_code> ReadChunked(std::size_t body_start, Response& out);

    asio::ip::tcp::socket socket_;
    asio::steady_timer timer_;
    const Target& target_;
    std::optional<asio::ip::address> source_;
    std::string request_;  // the request being sent, reused
    std::string buffer_;   // bytes read and not yet consumed
    std::size_t filled_ = 0;
    bool close_after_ = false;
    bool timed_out_ = false;
    std::uint64_t generation_ = 0;  // which request a timer callback belongs to
    std::uint64_t connects_ = 0;
};

}  // namespace keel::load
