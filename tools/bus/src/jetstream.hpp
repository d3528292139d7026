// The JetStream JSON API ($JS.API.*) over a keel::bus::Nats connection.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <keel/bus/nats.hpp>

namespace keel::bus_tool {

/// JetStream answered with an error object.
class ApiError final : public std::runtime_error {
public:
    ApiError(const std::string& what, int code, int err_code)
        : std::runtime_error(what), code(code), err_code(err_code) {}
    int code;      // HTTP-like: 404, 400, 500...
    int err_code;  // JetStream's: 10059 stream not found, 10014 consumer not found, ...
};

inline constexpr int kStreamNotFound = 10059;
inline constexpr int kConsumerNotFound = 10014;
inline constexpr int kNoMessageFound = 10037;

/// Connects to the comma-separated `servers` (gives up after a few seconds; throws
/// keel::bus::NatsError).
std::shared_ptr<bus::Nats> Connect(const std::string& servers);

class JetStream final {
public:
    explicit JetStream(std::shared_ptr<bus::Nats> nats) : nats_(std::move(nats)) {}

    bus::Nats& Nats() const { return *nats_; }

    /// $JS.API.<api> with `body`; throws ApiError when the answer is an error.
    boost::json::object Request(const std::string& api,
                                const boost::json::value& body = nullptr) const;

    std::vector<std::string> StreamNames() const;
    /// STREAM.INFO; `subjects_filter` asks for per-subject counts (state.subjects).
    /// nullopt when the stream does not exist.
    std::optional<boost::json::object> StreamInfo(const std::string& stream,
                                                  const std::string& subjects_filter = "") const;
    /// Every consumer's info (CONSUMER.LIST, all pages).
    std::vector<boost::json::object> Consumers(const std::string& stream) const;
    /// nullopt when the stream or the consumer does not exist.
    std::optional<boost::json::object> ConsumerInfo(const std::string& stream,
                                                    const std::string& consumer) const;
    void DeleteConsumer(const std::string& stream, const std::string& consumer) const;
    /// Creates a durable consumer from a full config object; returns its info.
    boost::json::object CreateDurable(const std::string& stream,
                                      const boost::json::object& config) const;
    /// How many messages on `subject` have a stream sequence >= `from` (an ephemeral
    /// consumer is created to count them, then deleted).
    std::uint64_t CountFrom(const std::string& stream, const std::string& subject,
                            std::uint64_t from) const;
    void DeleteMessage(const std::string& stream, std::uint64_t seq) const;

private:
    std::shared_ptr<bus::Nats> nats_;
};

/// Integer field of a JSON object (0 when absent or not a number).
std::int64_t Int(const boost::json::object& o, std::string_view key);
/// Integer at a path of nested objects ({"delivered":{"stream_seq":..}}).
std::int64_t Int(const boost::json::object& o, std::string_view key, std::string_view sub);
/// String field ("" when absent or not a string).
std::string Str(const boost::json::object& o, std::string_view key);

}  // namespace keel::bus_tool
