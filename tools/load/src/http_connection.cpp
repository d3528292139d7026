#include "http_connection.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

namespace keel::load {

namespace {

constexpr std::size_t kInitialBuffer = 64 * 1024;
constexpr std::size_t kMaxBody = 64 * 1024 * 1024;

bool EqualsNoCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return (x | 0x20) == (y | 0x20);
           });
}

std::string_view Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

bool ContainsNoCase(std::string_view haystack, std::string_view needle) {
    if (needle.size() > haystack.size()) return false;
    for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i)
        if (EqualsNoCase(haystack.substr(i, needle.size()), needle)) return true;
    return false;
}

}  // namespace

Target ResolveTarget(std::string_view url) {
    constexpr std::string_view kScheme = "http://";
    if (!url.starts_with(kScheme))
        throw std::runtime_error("URL must start with http:// (no TLS), got '" + std::string(url) +
                                 "'");
    url.remove_prefix(kScheme.size());
    const auto slash = url.find('/');
    const std::string_view authority = url.substr(0, slash);
    std::string path = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
    while (!path.empty() && path.back() == '/') path.pop_back();
    const auto colon = authority.rfind(':');
    std::string host(authority.substr(0, colon));
    std::string port =
        colon == std::string_view::npos ? "80" : std::string(authority.substr(colon + 1));
    if (host.empty() || port.empty())
        throw std::runtime_error("URL needs a host: '" + std::string(url) + "'");
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    boost::system::error_code ec;
    auto results = resolver.resolve(host, port, ec);
    if (ec || results.empty())
        throw std::runtime_error("cannot resolve " + host + ":" + port + ": " + ec.message());
    return Target{results.begin()->endpoint(), std::string(authority), std::move(path)};
}

HttpConnection::HttpConnection(asio::any_io_executor executor, const Target& target,
                               std::optional<asio::ip::address> source)
    : socket_(executor), timer_(executor), target_(target), source_(source) {
    request_.reserve(1024);
    buffer_.resize(kInitialBuffer);
}

void HttpConnection::Close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
    filled_ = 0;
}

asio::awaitable<boost::system::error_code> HttpConnection::Connect() {
    Close();
    boost::system::error_code ec;
    socket_.open(target_.endpoint.protocol(), ec);
    if (!ec && source_) socket_.bind(asio::ip::tcp::endpoint(*source_, 0), ec);
    if (ec) co_return ec;
    // (no structured bindings in coroutines: GCC 12 destroys them twice, libs/README.md)
    const auto connected = co_await socket_.async_connect(target_.endpoint, kAwait);
    if (std::get<0>(connected)) co_return std::get<0>(connected);
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    ++connects_;
    co_return boost::system::error_code{};
}

asio::awaitable<void> HttpConnection::Request(std::string_view method, std::string_view path,
                                              std::string_view extra_headers, std::string_view body,
                                              std::chrono::milliseconds timeout, Response& out) {
    request_.clear();
    request_.append(method).append(" ").append(target_.base_path).append(path);
    request_.append(" HTTP/1.1\r\nHost: ").append(target_.host_header);
    request_.append("\r\nUser-Agent: keel-load\r\n").append(extra_headers);
    if (!body.empty() || method == "POST") {
        char digits[24];
        const auto end = std::to_chars(digits, digits + sizeof digits, body.size()).ptr;
        request_.append("Content-Type: application/json\r\nContent-Length: ")
            .append(digits, end)
            .append("\r\n");
    }
    request_.append("\r\n").append(body);

    out.status = 0;
    out.body.clear();
    timed_out_ = false;
    const std::uint64_t generation = ++generation_;
    timer_.expires_after(timeout);
    timer_.async_wait([this, generation](boost::system::error_code ec) {
        if (ec || generation != generation_) return;  // cancelled, or an earlier request's timer
        timed_out_ = true;
        boost::system::error_code ignored;
        socket_.cancel(ignored);
    });

    out.outcome = Outcome::kResponse;
    for (int attempt = 0; attempt < 2; ++attempt) {
        const bool reused = socket_.is_open();
        if (!reused) {
            const auto ec = co_await Connect();
            if (ec) {
                out.outcome = timed_out_ ? Outcome::kTimeout : Outcome::kConnect;
                break;
            }
        }
        const auto ec = co_await Exchange(out);
        if (!ec) break;
        Close();
        if (timed_out_) {
            out.outcome = Outcome::kTimeout;
            break;
        }
        // A kept-alive connection the server closed while idle: nothing was answered, send again.
        if (!reused || out.status != 0 || attempt == 1) {
            out.outcome = Outcome::kOther;
            break;
        }
    }
    ++generation_;
    timer_.cancel();
    if (close_after_) Close();
}

asio::awaitable<boost::system::error_code> HttpConnection::ReadMore() {
    if (filled_ == buffer_.size()) {
        if (buffer_.size() >= kMaxBody) co_return asio::error::message_size;
        buffer_.resize(buffer_.size() * 2);
    }
    const auto space = asio::buffer(buffer_.data() + filled_, buffer_.size() - filled_);
    const auto read = co_await socket_.async_read_some(space, kAwait);
    filled_ += std::get<1>(read);
    co_return std::get<0>(read);
}

bool HttpConnection::ParseHead(std::size_t head_end, Response& out, std::size_t& content_length,
                               bool& chunked) {
    std::string_view head(buffer_.data(), head_end);
    const auto line_end = head.find("\r\n");
    const std::string_view status_line = head.substr(0, line_end);
    if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12) return false;
    unsigned status = 0;
    const auto parsed = std::from_chars(status_line.data() + 9, status_line.data() + 12, status);
    if (parsed.ec != std::errc{} || status < 100 || status > 599) return false;
    out.status = status;
    close_after_ = status_line.starts_with("HTTP/1.0");
    content_length = SIZE_MAX;
    chunked = false;
    head.remove_prefix(line_end == std::string_view::npos ? head.size() : line_end + 2);
    while (!head.empty()) {
        const auto end = head.find("\r\n");
        const std::string_view line = head.substr(0, end);
        head.remove_prefix(end == std::string_view::npos ? head.size() : end + 2);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        const std::string_view name = line.substr(0, colon);
        const std::string_view value = Trim(line.substr(colon + 1));
        if (EqualsNoCase(name, "content-length")) {
            std::size_t length = 0;
            const auto r = std::from_chars(value.data(), value.data() + value.size(), length);
            if (r.ec != std::errc{} || length > kMaxBody) return false;
            content_length = length;
        } else if (EqualsNoCase(name, "transfer-encoding")) {
            chunked = ContainsNoCase(value, "chunked");
        } else if (EqualsNoCase(name, "connection")) {
            if (ContainsNoCase(value, "close")) close_after_ = true;
            if (ContainsNoCase(value, "keep-alive")) close_after_ = false;
        }
    }
    return true;
}

asio::awaitable<boost::system::error_code> HttpConnection::Exchange(Response& out) {
    close_after_ = false;
    filled_ = 0;
    const auto written = co_await asio::async_write(socket_, asio::buffer(request_), kAwait);
    if (std::get<0>(written)) co_return std::get<0>(written);

    std::size_t head_end = std::string::npos;
    std::size_t scanned = 0;
    while (head_end == std::string::npos) {
        const auto ec = co_await ReadMore();
        if (ec) co_return ec;
        const std::string_view seen(buffer_.data(), filled_);
        head_end = seen.find("\r\n\r\n", scanned);
        scanned = filled_ >= 3 ? filled_ - 3 : 0;
    }
    std::size_t content_length = 0;
    bool chunked = false;
    if (!ParseHead(head_end, out, content_length, chunked)) co_return asio::error::invalid_argument;
    const std::size_t body_start = head_end + 4;
    if (chunked) co_return co_await ReadChunked(body_start, out);
    const bool no_body = out.status == 204 || out.status == 304 || out.status < 200;
    if (no_body) content_length = 0;
    if (content_length == SIZE_MAX) {  // the body ends with the connection
        close_after_ = true;
        for (;;) {
            const auto ec = co_await ReadMore();
            if (ec == asio::error::eof) break;
            if (ec) co_return ec;
        }
        content_length = filled_ - body_start;
    }
    if (body_start + content_length > buffer_.size()) buffer_.resize(body_start + content_length);
    while (filled_ < body_start + content_length) {
        const auto ec = co_await ReadMore();
        if (ec) co_return ec;
    }
    out.body.assign(buffer_.data() + body_start, content_length);
    filled_ = 0;
    co_return boost::system::error_code{};
}

asio::awaitable<boost::system::error_code> HttpConnection::ReadChunked(std::size_t pos,
                                                                       Response& out) {
    for (;;) {
        // pos is at the start of a chunk-size line
        std::size_t line_end;
        while ((line_end = std::string_view(buffer_.data(), filled_).find("\r\n", pos)) ==
               std::string_view::npos) {
            const auto ec = co_await ReadMore();
            if (ec) co_return ec;
        }
        std::size_t size = 0;
        const auto r = std::from_chars(buffer_.data() + pos, buffer_.data() + line_end, size, 16);
        if (r.ec != std::errc{} || size > kMaxBody) co_return asio::error::invalid_argument;
        pos = line_end + 2;
        if (size == 0) {  // last chunk; no trailers from keel's gateway: one empty line
            while (filled_ < pos + 2) {
                const auto ec = co_await ReadMore();
                if (ec) co_return ec;
            }
            filled_ = 0;
            co_return boost::system::error_code{};
        }
        if (pos + size + 2 > buffer_.size()) buffer_.resize(pos + size + 2);
        while (filled_ < pos + size + 2) {
            const auto ec = co_await ReadMore();
            if (ec) co_return ec;
        }
        out.body.append(buffer_.data() + pos, size);
        pos += size + 2;
    }
}

}  // namespace keel::load
