// How keel-bus fails: a usage error exits 2, anything else (NATS, JetStream, missing data) 1.
#pragma once
#include <stdexcept>

namespace keel::bus_tool {

/// The command line asks for something that cannot exist: an unknown topic, a malformed
/// time, a payload that does not match its schema. Exit code 2.
class UsageError final : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The command could not be carried out (nothing found, JetStream refused). Exit code 1.
class ToolError final : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

}  // namespace keel::bus_tool
