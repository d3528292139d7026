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

    asio::steady_timer lag_timer;
};

/// Consumers: one thread per worker fetching batches, handled on the io threads.
void StartWorkers(const std::shared_ptr<Bus>& bus, Bus::State& state,
                  const std::shared_ptr<Subscription>& sub);
/// The outbox relay loop (on the state's strand) until stopping.
Task<void> RelayLoop(std::shared_ptr<Bus> bus, Bus::State& state, std::shared_ptr<pg::Pool> pool);
/// Publishes what is committed and unpublished; -1 when another instance holds the relay.
Task<int> RelayOnce(Bus& bus, Bus::State& state, pg::Pool& pool);

}  // namespace keel::bus
