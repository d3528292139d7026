#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <keel/core/unavailable.hpp>

// libnats types, kept out of the interface's includes (the reserved names are nats.c's).
// NOLINTBEGIN(bugprone-reserved-identifier)
typedef struct __natsConnection natsConnection;
typedef struct __jsCtx jsCtx;
typedef struct __natsMsg natsMsg;
// NOLINTEND(bugprone-reserved-identifier)

namespace keel::bus {

/// NATS or JetStream refused or did not answer.
class NatsError final : public UnavailableError {
public:
    using UnavailableError::UnavailableError;
};

struct StreamSpec {
    std::string name;
    std::vector<std::string> subjects;
    std::chrono::seconds max_age{7 * 24 * 3600};
    std::int64_t max_bytes = -1;
    std::int64_t max_msgs_per_subject = -1;
    std::chrono::seconds duplicates{15 * 60};
    int replicas = 1;
};

struct ConsumerSpec {
    std::string durable;
    std::string filter_subject;
    int max_deliver = 5;
    std::chrono::milliseconds ack_wait{30'000};
    std::int64_t max_ack_pending = 20'000;
    /// Long enough that a stopped service never loses its position.
    std::chrono::hours inactive_threshold{8 * 24};
    /// Where a new consumer starts: everything (0), a stream sequence, or a time.
    std::uint64_t start_sequence = 0;
    std::int64_t start_time_ns = 0;
    int replicas = 0;  // 0: the stream's
};

/// Owns a natsMsg.
struct MsgDeleter {
    void operator()(natsMsg* msg) const;
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

/// One NATS connection and its JetStream context. The calls block (use them from the
/// bus's own threads, not io threads); libnats makes them thread-safe. The
/// connection reconnects forever (all listed servers, with jitter).
class Nats final {
public:
    struct Options {
        std::vector<std::string> urls;
        std::string name;
        /// How long Connect keeps trying before it gives up.
        std::chrono::milliseconds connect_timeout{30'000};
        /// The server's user (deploy/nats/auth.conf). Empty: $NATS_USER and $NATS_PASSWORD
        /// when set, else $NATS_OPERATOR_PASSWORD as $NATS_OPERATOR_USER (default keel-bus:
        /// the operator running keel-bus), else none (a server without authorization;
        /// credentials in a nats://user:pass@host URL work as well).
        std::string user;
        std::string password;
    };
    static std::shared_ptr<Nats> Connect(const Options& options);
    ~Nats();
    Nats(const Nats&) = delete;
    Nats& operator=(const Nats&) = delete;

    natsConnection* Connection() const { return connection_; }
    jsCtx* Js() const { return js_; }
    bool Connected() const;

    /// Creates the stream, or updates it to `spec` (subjects, limits) when it exists.
    void EnsureStream(const StreamSpec& spec);
    /// Creates the durable pull consumer, or updates what JetStream lets change.
    void EnsureConsumer(const std::string& stream, const ConsumerSpec& spec);
    void DeleteConsumer(const std::string& stream, const std::string& durable);
    /// Publishes and waits for the stream's acknowledgement (sequence returned).
    std::uint64_t Publish(natsMsg* msg, const std::string& msg_id = "");
    /// Core publish without waiting (diagnostics such as trail records).
    void PublishNoWait(const std::string& subject, std::string_view data);
    /// Sends what is buffered (waits up to 2 s).
    void Flush();
    /// A request on the JetStream API ($JS.API.<subject>) answered with JSON.
    std::string ApiRequest(const std::string& subject, const std::string& body,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

private:
    Nats() = default;
    natsConnection* connection_ = nullptr;
    jsCtx* js_ = nullptr;
};

/// "nats://a:4222, nats://b:4222" -> the URLs, trimmed, empty entries dropped
/// (NATS_URL, keel-bus --server).
std::vector<std::string> SplitUrlList(std::string_view text);

/// "orders.order_placed.v1" -> "ORDERS": the stream of a topic's domain.
std::string StreamOf(std::string_view topic);
/// The durable consumer name of (service, topic): "fiscal-payments_payment_captured_v1".
std::string DurableOf(std::string_view service, std::string_view topic);
/// Builds a message with a copy of `data`.
MsgPtr NewMsg(const std::string& subject, std::string_view data);
void SetHeader(natsMsg* msg, const char* key, const std::string& value);
/// A header's value, "" when absent.
std::string GetHeader(natsMsg* msg, const char* key);
/// Every header of a message, the first value of each key.
std::map<std::string, std::string> HeadersOf(natsMsg* msg);
std::string_view SubjectOf(natsMsg* msg);
std::string_view DataOf(natsMsg* msg);

/// Where a message delivered by JetStream stands in its stream.
struct MsgMetadata {
    std::uint64_t stream_sequence = 0;
    std::uint64_t deliveries = 1;  // 1 on the first delivery
    std::int64_t time_ns = 0;      // when the stream stored it
    std::uint64_t pending = 0;     // messages for the consumer after this one
};
/// nullopt for a message that JetStream did not deliver.
std::optional<MsgMetadata> MetadataOf(natsMsg* msg);

inline constexpr const char* kDlqStream = "DLQ";            // dlq.<topic>
inline constexpr const char* kTrailStream = "TRAIL";        // trail.<correlation id>
inline constexpr const char* kRegistryStream = "REGISTRY";  // keel.registry.<service>

}  // namespace keel::bus
