#pragma once
#include <stdexcept>

namespace keel {

/// A dependency (database, cache, another service) cannot be reached now. Libraries
/// throw subclasses; the HTTP layer answers 503 with Retry-After so that clients and
/// the gateway retry, instead of 500.
class UnavailableError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace keel
