#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include <keel/bus/codec.hpp>
#include <keel/bus/envelope.hpp>
#include <keel/core/asio.hpp>
#include <keel/core/config.hpp>
#include <keel/pg/pool.hpp>

namespace keel::bus {

class Nats;

/// Where an event comes from: the request or event that caused it, and the hop of
/// the service handling it now. Events written under one origin continue its trail.
struct Origin {
    std::string correlation_id;
    std::string causation_id;
    std::string traceparent;
    std::vector<Hop> trail;  // the hops before this one
    Hop hop;                 // this service's, started; its duration is taken when used
};

/// A delivered event, decoded.
struct Event {
    Envelope envelope;
    boost::json::value payload;
    std::uint64_t stream_sequence = 0;
    std::uint64_t deliveries = 1;
    /// Origin for the events the handler writes in reaction to this one.
    Origin next;
};

struct BusSettings {
    std::vector<std::string> urls;  // NATS_URL, comma-separated
    std::string nats_user;          // NATS_USER: the service's own (deploy/nats/auth.conf)
    std::string nats_password;      // NATS_PASSWORD (empty user: none, or a URL's user:pass@)
    std::string service;
    std::string instance_id;
    int replicas = 1;                                // BUS_REPLICAS: 1 or 3
    std::chrono::seconds retention{7 * 24 * 3600};   // BUS_RETENTION_S
    std::int64_t stream_max_bytes = 256LL << 20;     // BUS_STREAM_MAX_BYTES
    std::chrono::seconds duplicate_window{15 * 60};  // BUS_DUPLICATE_WINDOW_S
    std::chrono::milliseconds relay_poll{200};       // BUS_RELAY_POLL_MS
    bool record_trail = true;                        // BUS_TRAIL
    /// BUS_RELAY_LEASE_MS: how long the relaying instance owns the outbox without
    /// renewing; a frozen or cut-off instance is replaced after about this long.
    std::chrono::milliseconds relay_lease{5000};
};

/// Reads the BusSettings of `service` (see the comments above for the variables).
BusSettings ReadBusSettings(core::EnvConfig& config, const std::string& service,
                            const std::string& instance_id);

struct SubscribeOptions {
    int batch = 256;  // messages fetched and handled together
    int workers = 1;  // concurrent fetch-and-handle loops per instance
    /// Handler failures (bad data, constraint violations, bugs, a crash or a deadline
    /// overrun mid-handler) before the message goes to dlq.<topic>. Transient failures
    /// (pg::IsTransient: PostgreSQL or NATS unreachable, deadlocks, serialization and
    /// lock timeouts) never count: they are retried for as long as they last.
    int max_deliver = 5;
    std::chrono::milliseconds ack_wait{30'000};
    /// Nak delay: base * 2^(failures-1), capped by backoff_max; also the pause between
    /// probes of the database while it is away.
    std::chrono::milliseconds backoff_base{200};
    std::chrono::milliseconds backoff_max{30'000};
    /// A batch's handlers must finish within this; then their work is cancelled (the
    /// transaction rolls back) and the messages are redelivered.
    std::chrono::milliseconds handler_deadline{60'000};
};

/// Handles the not-yet-processed events of one batch inside one transaction, which
/// also records them in the inbox. Throwing rolls it all back; the batch is then
/// retried one event per transaction so that only the failing event is redelivered.
using BatchHandler = std::function<Task<void>(pg::Connection&, std::span<const Event>)>;
/// The same, for a handler of one event.
using EventHandler = std::function<Task<void>(pg::Connection&, const Event&)>;
/// A handler without a database (no inbox: it must be idempotent by itself).
using PlainHandler = std::function<Task<void>(std::span<const Event>)>;

/// Creates the outbox and inbox tables in `pool`'s database if they are missing
/// (Bus::Start does it too); for tests that write events without NATS.
Task<void> CreateBusTables(pg::Pool& pool);

/// The event bus of one service instance: the transactional outbox and its relay,
/// durable pull consumers with inbox, dead letters, trail records and metrics.
///
/// Thread-safety: declarations (Publishes, Subscribe*) happen on one thread before
/// Start(); after it, Emit, Transaction, WakeRelay, FromRequest and Healthy may be
/// called from any io thread at once. Start() and Stop() are called once each.
/// Lifetime: create with Create() (the relay, lag refresh and consumer workers hold
/// a shared_ptr to it); Stop() before the io_context stops so that they end.
class Bus final : public std::enable_shared_from_this<Bus> {
public:
    /// `pool` may be null for a service without a database (plain handlers only).
    static std::shared_ptr<Bus> Create(asio::any_io_executor executor,
                                       std::shared_ptr<pg::Pool> pool, BusSettings settings);
    ~Bus();

    /// Declarations, before Start(): topics this service publishes and consumes.
    void Publishes(const std::string& topic);
    void Subscribe(const std::string& topic, BatchHandler handler, SubscribeOptions options = {});
    void Subscribe(const std::string& topic, EventHandler handler, SubscribeOptions options = {});
    void SubscribePlain(const std::string& topic, PlainHandler handler,
                        SubscribeOptions options = {});

    /// Connects (waiting up to 30 s for NATS), creates the bus tables, streams and
    /// consumers, and starts the relay and the consumers.
    Task<void> Start();
    /// Stops fetching, lets handlers in flight finish, publishes what is committed.
    Task<void> Stop();
    bool Healthy() const;

    /// An origin for events written while handling an HTTP request.
    Origin FromRequest(const std::string& request_id, const std::string& traceparent,
                       const std::string& what) const;
    /// Writes an event into the outbox in `connection`'s open transaction. The payload
    /// is validated and encoded now: a SchemaError rolls the transaction back.
    /// Returns the event id.
    Task<std::string> Emit(pg::Connection& connection, const std::string& topic,
                           const boost::json::value& payload, const Origin& origin);
    /// pool->Transaction(body); if it emitted events, wakes the relay so they go out at once.
    Task<void> Transaction(std::function<Task<void>(pg::Connection&)> body);
    /// Asks the relay to look for committed events now.
    void WakeRelay();

    const Codec& GetCodec() const { return codec_; }
    const BusSettings& Settings() const { return settings_; }
    std::shared_ptr<Nats> Connection() const;

    asio::any_io_executor Executor() const { return executor_; }
    /// Use Create(); public only for std::make_shared.
    Bus(asio::any_io_executor executor, std::shared_ptr<pg::Pool> pool, BusSettings settings);

    /// Shared by the bus's own parts (relay, consumers), which are handed it by Start().
    struct State;

private:
    void Connect();

    asio::any_io_executor executor_;
    std::shared_ptr<pg::Pool> pool_;
    BusSettings settings_;
    const Codec& codec_;
    std::unique_ptr<State> state_;
};

}  // namespace keel::bus
