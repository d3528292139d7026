// Internal state of a Bus, shared by its parts (relay, consumers, declarations).
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <keel/bus/bus.hpp>
#include <keel/bus/nats.hpp>
#include <keel/telemetry/metrics.hpp>

namespace keel::bus {

class SchemaLookup;  // schema_registry.hpp

struct Subscription {
    std::string topic;
    std::string stream;
    std::string durable;
    SubscribeOptions options;
    BatchHandler batch;  // one of the two
    PlainHandler plain;
    // metrics, labelled consumer=<durable>
    telemetry::Counter* processed = nullptr;
    telemetry::Counter* duplicates = nullptr;
    telemetry::Counter* retried = nullptr;
    telemetry::Counter* redeliveries = nullptr;
    telemetry::Counter* dead_letters = nullptr;
    telemetry::Histogram* handler_seconds = nullptr;
    telemetry::Gauge* lag = nullptr;
    telemetry::Gauge* ack_pending = nullptr;

    // schema evolution (schema_registry.cpp): finds the writer schemas DecodeEvent lacks;
    // the bus's, set by Connect
    SchemaLookup* schemas = nullptr;

    // outages and deadlines (consumer.cpp)
    telemetry::Counter* transient_retries = nullptr;  // deliveries deferred by a transient failure
    telemetry::Counter* deadline_exceeded = nullptr;  // batches abandoned at handler_deadline
    telemetry::Gauge* paused = nullptr;               // workers waiting for the database
    std::atomic<int> transient_streak{0};             // batches failed transiently in a row
};

struct Bus::State {
    explicit State(const asio::any_io_executor& executor)
        : strand(asio::make_strand(executor)), relay_timer(strand), lag_timer(executor) {}

    std::shared_ptr<Nats> nats;
    std::vector<std::string> publishes;
    std::vector<std::shared_ptr<Subscription>> subscriptions;
    // Blocking libnats calls (publish acks, dead letters, consumer info) run here so
    // that io threads never wait on the network.
    asio::thread_pool blocking{2};
    std::vector<std::thread> workers;
    std::atomic<bool> started{false};
    std::atomic<bool> stopping{false};

    // relay
    asio::strand<asio::any_io_executor> strand;
    asio::steady_timer relay_timer;  // touched only on the strand
    std::atomic<bool> relay_wake{false};
    std::atomic<std::uint64_t> emitted{0};  // outbox rows written by this instance
    std::atomic<int> relay_loops{0};
    telemetry::Counter* relayed = nullptr;
    telemetry::Counter* relay_errors = nullptr;
    telemetry::Gauge* outbox_pending = nullptr;

    // relay lease and parking (relay.cpp)
    // steady_clock time (ns since epoch) before which this instance may publish: the
    // moment it sent its last successful lease statement plus the lease length.
    std::atomic<std::int64_t> lease_until{0};
    std::atomic<bool> relay_busy{false};  // one RelayOnce at a time per instance
    // steady_clock time (ns) before which an instance that found the lease held by another
    // does not ask for it again.
    std::atomic<std::int64_t> lease_retry_at{0};
    // Published by this instance and not yet marked in bus_outbox (the next pass marks
    // them with its read); touched only by the pass holding relay_busy.
    std::vector<std::int64_t> unmarked;
    telemetry::Gauge* outbox_parked = nullptr;
    telemetry::Gauge* relay_leader = nullptr;
    telemetry::Counter* parked_total = nullptr;

    asio::steady_timer lag_timer;

    // schema evolution (schema_registry.cpp): the lookup the subscriptions point to
    std::shared_ptr<SchemaLookup> schemas;

    // consumers (consumer.cpp): the pool probed while a consumer waits out an outage
    std::shared_ptr<pg::Pool> pool;

    // re-declaration (bus.cpp): streams and consumers declared again after JetStream lost
    // them (a wiped store); touched only by the lag refresh on the blocking pool
    telemetry::Counter* redeclared = nullptr;
    bool missing_before = false;     // the previous round found something missing
    bool redeclare_failing = false;  // logged once until it succeeds
};

/// DecodeEvent met a writer schema the codec does not know: counts and logs it and
/// starts a registry lookup (schema_registry.cpp); returns why it is unknown so far.
std::string ReportUnknownSchema(const Subscription& sub, const std::string& topic,
                                const std::string& fingerprint);

/// Consumers: one thread per worker fetching batches, handled on the io threads.
void StartWorkers(const std::shared_ptr<Bus>& bus, Bus::State& state,
                  const std::shared_ptr<Subscription>& sub);
/// The outbox relay loop (on the state's strand) until stopping.
Task<void> RelayLoop(std::shared_ptr<Bus> bus, Bus::State& state, std::shared_ptr<pg::Pool> pool);
/// Publishes what is committed and unpublished; -1 when another instance holds the relay.
Task<int> RelayOnce(Bus& bus, Bus::State& state, pg::Pool& pool);
/// Gives the relay lease up (at stop) so that another instance takes over at once.
Task<void> ReleaseRelayLease(Bus& bus, Bus::State& state, pg::Pool& pool);

}  // namespace keel::bus
