#pragma once
#include <chrono>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace keel::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using Response = beast_http::response<beast_http::string_body>;
using Status = beast_http::status;
using Verb = beast_http::verb;

/// A response with a JSON body (`body` must already be JSON text).
Response JsonText(Status status, std::string body);

/// RFC 9457 problem details: application/problem+json with type, title, status, detail.
/// `extra` (a JSON object's members, without braces, e.g. `"errors":[...]`) is appended.
Response Problem(Status status, std::string_view detail, std::string_view extra_members = {});

/// Thrown by handlers (and helpers they call) to end a request with a problem response.
class HttpError final : public std::exception {
public:
    HttpError(Status status, std::string detail, std::string extra_members = {})
        : status_(status), detail_(std::move(detail)), extra_(std::move(extra_members)) {}
    Status GetStatus() const { return status_; }
    const std::string& Detail() const { return detail_; }
    const std::string& ExtraMembers() const { return extra_; }
    const char* what() const noexcept override { return detail_.c_str(); }
    /// Sent as Retry-After (whole seconds) when positive; a 503 without one gets 1 s.
    HttpError& WithRetryAfter(std::chrono::seconds wait) {
        retry_after_ = wait;
        return *this;
    }
    std::chrono::seconds RetryAfter() const { return retry_after_; }

private:
    Status status_;
    std::string detail_;
    std::string extra_;
    std::chrono::seconds retry_after_{0};
};

}  // namespace keel::http
