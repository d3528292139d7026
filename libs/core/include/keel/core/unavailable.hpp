#pragma once
#include <chrono>
#include <stdexcept>

namespace keel {

/// A dependency (database, cache, another service) cannot be reached now. Libraries
/// throw subclasses; the HTTP layer answers 503 with Retry-After so that clients and
/// the gateway retry, instead of 500.
class UnavailableError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
    /// How long a client should wait before it tries again (the Retry-After header). A
    /// subclass that knows better (an open circuit breaker knows when it will probe) says so.
    virtual std::chrono::seconds RetryAfter() const { return std::chrono::seconds(1); }
};

}  // namespace keel
