// Reading a stream with an ephemeral ordered consumer (libnats creates it, resets it on a
// gap and deletes it when the reader goes away; no durable is ever touched).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

#include <keel/bus/nats.hpp>

// nats.c's own (reserved) name.
typedef struct __natsSubscription natsSubscription;  // NOLINT(bugprone-reserved-identifier)

namespace keel::bus_tool {

/// Where reading starts.
struct StartAt {
    enum class Kind { kAll, kNew, kSequence, kTime, kLastPerSubject };
    Kind kind = Kind::kAll;
    std::uint64_t sequence = 0;  // kSequence
    std::int64_t time_ns = 0;    // kTime, since the Unix epoch
};

/// One stored message, copied out of libnats.
struct StoredMessage {
    std::string subject;
    std::uint64_t seq = 0;
    std::int64_t time_ns = 0;   // when the stream stored it
    std::uint64_t pending = 0;  // matching messages after this one, when it was delivered
    std::string data;
    std::map<std::string, std::string> headers;  // first value of each

    /// "" when absent.
    const std::string& Header(const std::string& key) const;
};

/// The stream to read does not exist.
class MissingStream final : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class StreamReader final {
public:
    /// Throws MissingStream, or ToolError when JetStream refuses the consumer.
    StreamReader(bus::Nats& nats, const std::string& stream, const std::string& filter,
                 StartAt start);
    ~StreamReader();
    StreamReader(const StreamReader&) = delete;
    StreamReader& operator=(const StreamReader&) = delete;

    /// The next message, or nullopt when none came within `timeout`.
    std::optional<StoredMessage> Next(std::chrono::milliseconds timeout);
    /// Whether there was nothing to deliver when the consumer was created.
    bool StartedEmpty() const { return started_empty_; }

private:
    natsSubscription* sub_ = nullptr;
    bool started_empty_ = false;
};

/// Reads what `filter` matches in `stream` now (from `start` to the last message),
/// calling `each` until it returns false. Returns false when the stream does not exist.
bool ReadStored(bus::Nats& nats, const std::string& stream, const std::string& filter,
                StartAt start, const std::function<bool(const StoredMessage&)>& each);

}  // namespace keel::bus_tool
