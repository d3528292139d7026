#include <keel/bus/bus.hpp>

#include <boost/asio/redirect_error.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <keel/bus/nats.hpp>
#include <keel/core/log.hpp>
#include <keel/core/offload.hpp>
#include <keel/core/runtime.hpp>
#include <keel/core/uuid.hpp>

#include "state.hpp"

namespace keel::bus {
namespace json = boost::json;

namespace {

constexpr std::string_view kSchema = R"sql(
CREATE TABLE IF NOT EXISTS bus_outbox (
    seq          bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    topic        text NOT NULL,
    headers      text NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS bus_outbox_unpublished ON bus_outbox (seq) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS bus_inbox (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS bus_inbox_processed_at ON bus_inbox (processed_at);
)sql";

std::vector<std::string> SplitUrls(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto end = std::min(text.find(',', start), text.size());
        std::string url = text.substr(start, end - start);
        while (!url.empty() && url.front() == ' ') url.erase(0, 1);
        while (!url.empty() && url.back() == ' ') url.pop_back();
        if (!url.empty()) out.push_back(url);
        start = end + 1;
    }
    return out;
}

std::string HeadersJson(const Envelope& e, const std::string& trail_record) {
    json::object h;
    h[header::kEventId] = e.event_id;
    h[header::kCorrelationId] = e.correlation_id;
    if (!e.causation_id.empty()) h[header::kCausationId] = e.causation_id;
    h[header::kFingerprint] = e.fingerprint;
    h[header::kProducedAt] = std::to_string(e.produced_at_us);
    h[header::kTrail] = TrailToJson(e.trail);
    h[header::kTraceparent] = e.traceparent;
    h["_trail_record"] = trail_record;  // the relay publishes it, never as a header
    return json::serialize(h);
}

}  // namespace

BusSettings ReadBusSettings(core::EnvConfig& config, const std::string& service,
                            const std::string& instance_id) {
    BusSettings s;
    s.service = service;
    s.instance_id = instance_id;
    s.urls = SplitUrls(config.String("NATS_URL", "nats://127.0.0.1:4222"));
    s.replicas = static_cast<int>(config.Int("BUS_REPLICAS", 1, 1, 5));
    s.retention =
        std::chrono::seconds(config.Int("BUS_RETENTION_S", 7 * 24 * 3600, 60, 365LL * 24 * 3600));
    s.stream_max_bytes = config.Int("BUS_STREAM_MAX_BYTES", 256LL << 20, 1 << 20, 1LL << 40);
    s.duplicate_window =
        std::chrono::seconds(config.Int("BUS_DUPLICATE_WINDOW_S", 15 * 60, 1, 24 * 3600));
    s.relay_poll = std::chrono::milliseconds(config.Int("BUS_RELAY_POLL_MS", 200, 5, 60'000));
    s.record_trail = config.Bool("BUS_TRAIL", true);
    return s;
}

std::shared_ptr<Bus> Bus::Create(asio::any_io_executor executor, std::shared_ptr<pg::Pool> pool,
                                 BusSettings settings) {
    return std::make_shared<Bus>(std::move(executor), std::move(pool), std::move(settings));
}

Bus::Bus(asio::any_io_executor executor, std::shared_ptr<pg::Pool> pool, BusSettings settings)
    : executor_(executor),
      pool_(std::move(pool)),
      settings_(std::move(settings)),
      codec_(Codec::Embedded()),
      state_(std::make_unique<State>(executor)) {
    auto& registry = telemetry::DefaultRegistry();
    state_->relayed = &registry.GetCounter("keel_bus_outbox_published_total",
                                           "Outbox events published to JetStream by this instance");
    state_->relay_errors =
        &registry.GetCounter("keel_bus_outbox_publish_errors_total",
                             "Outbox relay batches that failed and will be retried");
    state_->outbox_pending =
        &registry.GetGauge("keel_bus_outbox_pending", "Committed outbox events not yet published");
}

Bus::~Bus() {
    state_->stopping = true;
    for (auto& worker : state_->workers) {
        if (!worker.joinable()) continue;
        // The last reference may be dropped by a worker itself.
        if (worker.get_id() == std::this_thread::get_id())
            worker.detach();
        else
            worker.join();
    }
    state_->blocking.join();
}

void Bus::Publishes(const std::string& topic) {
    if (!codec_.Has(topic)) throw SchemaError("no schema for published topic " + topic);
    state_->publishes.push_back(topic);
}

namespace {

std::shared_ptr<Subscription> NewSubscription(const Codec& codec, const BusSettings& settings,
                                              const std::string& topic, SubscribeOptions options) {
    if (!codec.Has(topic)) throw SchemaError("no schema for consumed topic " + topic);
    auto sub = std::make_shared<Subscription>();
    sub->topic = topic;
    sub->stream = StreamOf(topic);
    sub->durable = DurableOf(settings.service, topic);
    sub->options = options;
    auto& registry = telemetry::DefaultRegistry();
    const telemetry::Labels labels = {{"consumer", sub->durable}};
    auto outcome = [&](const char* what) -> telemetry::Counter& {
        return registry.GetCounter("keel_bus_consumed_total", "Deliveries handled, by outcome",
                                   {{"consumer", sub->durable}, {"outcome", what}});
    };
    sub->processed = &outcome("processed");
    sub->duplicates = &outcome("duplicate");
    sub->retried = &outcome("retried");
    sub->dead_letters = &outcome("dead_lettered");
    sub->redeliveries = &registry.GetCounter("keel_bus_redeliveries_total",
                                             "Deliveries of a message after its first", labels);
    sub->handler_seconds = &registry.GetHistogram("keel_bus_handler_seconds",
                                                  "From fetch to ack of one event", labels);
    sub->lag = &registry.GetGauge("keel_bus_consumer_lag",
                                  "Messages not yet delivered or not yet acknowledged", labels);
    sub->ack_pending = &registry.GetGauge("keel_bus_consumer_ack_pending",
                                          "Messages delivered and not yet acknowledged", labels);
    return sub;
}

}  // namespace

void Bus::Subscribe(const std::string& topic, BatchHandler handler, SubscribeOptions options) {
    if (!pool_) throw std::logic_error("Subscribe with a transaction needs a database pool");
    auto sub = NewSubscription(codec_, settings_, topic, options);
    sub->batch = std::move(handler);
    state_->subscriptions.push_back(std::move(sub));
}

void Bus::Subscribe(const std::string& topic, EventHandler handler, SubscribeOptions options) {
    BatchHandler each = [handler = std::move(handler)](
                            pg::Connection& connection,
                            std::span<const Event> events) -> Task<void> {
        for (const auto& event : events) co_await handler(connection, event);
    };
    Subscribe(topic, std::move(each), options);
}

void Bus::SubscribePlain(const std::string& topic, PlainHandler handler, SubscribeOptions options) {
    auto sub = NewSubscription(codec_, settings_, topic, options);
    sub->plain = std::move(handler);
    state_->subscriptions.push_back(std::move(sub));
}

std::shared_ptr<Nats> Bus::Connection() const { return state_->nats; }

bool Bus::Healthy() const { return state_->nats && state_->nats->Connected(); }

Task<void> Bus::Start() {
    auto self = shared_from_this();
    Nats::Options options;
    options.urls = settings_.urls;
    options.name = settings_.instance_id;
    auto connect = [&] {
        state_->nats = Nats::Connect(options);
        StreamSpec spec;
        spec.max_age = settings_.retention;
        spec.max_bytes = settings_.stream_max_bytes;
        spec.duplicates = settings_.duplicate_window;
        spec.replicas = settings_.replicas;
        std::vector<std::string> streams;
        auto ensure = [&](const std::string& name, const std::string& subject) {
            if (std::find(streams.begin(), streams.end(), name) != streams.end()) return;
            streams.push_back(name);
            StreamSpec s = spec;
            s.name = name;
            s.subjects = {subject};
            if (name == kRegistryStream) {
                s.max_msgs_per_subject = 1;
                s.max_bytes = 1 << 20;
            }
            state_->nats->EnsureStream(s);
        };
        for (const auto& topic : state_->publishes)
            ensure(StreamOf(topic), topic.substr(0, topic.find('.')) + ".>");
        for (const auto& sub : state_->subscriptions) {
            ensure(sub->stream, sub->topic.substr(0, sub->topic.find('.')) + ".>");
            ConsumerSpec consumer;
            consumer.durable = sub->durable;
            consumer.filter_subject = sub->topic;
            consumer.max_deliver = sub->options.max_deliver;
            consumer.ack_wait = sub->options.ack_wait;
            state_->nats->EnsureConsumer(sub->stream, consumer);
        }
        ensure(kDlqStream, "dlq.>");
        ensure(kTrailStream, "trail.>");
        ensure(kRegistryStream, "keel.registry.>");
        // What this service publishes and consumes, for `keel-bus graph`.
        json::object declaration;
        declaration["service"] = settings_.service;
        declaration["instance"] = settings_.instance_id;
        json::array publishes, consumes;
        for (const auto& topic : state_->publishes) publishes.push_back(json::value(topic));
        for (const auto& sub : state_->subscriptions)
            consumes.push_back(json::object{{"topic", sub->topic}, {"consumer", sub->durable}});
        declaration["publishes"] = std::move(publishes);
        declaration["consumes"] = std::move(consumes);
        declaration["declared_at_us"] = NowMicros();
        auto msg = NewMsg("keel.registry." + settings_.service, json::serialize(declaration));
        state_->nats->Publish(msg.get());
        return 0;
    };
    co_await Offload(state_->blocking.get_executor(), connect);
    if (pool_) {
        auto lease = co_await pool_->Acquire();
        co_await lease->Execute("SELECT pg_advisory_lock(hashtext('keel-bus-schema'))");
        co_await lease->ExecuteScript(kSchema);
        co_await lease->Execute("SELECT pg_advisory_unlock(hashtext('keel-bus-schema'))");
    }
    state_->started = true;
    for (const auto& sub : state_->subscriptions) StartWorkers(self, *state_, sub);
    if (pool_) {
        asio::co_spawn(state_->strand, RelayLoop(self, pool_), [](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log::Error("outbox relay stopped", {{"error", ex.what()}});
                }
            }
        });
    }
    // Lag per consumer, as JetStream counts it, and the unpublished outbox rows, every
    // few seconds (not after every relay round: that was a query per committed event).
    auto lag_loop = [](std::shared_ptr<Bus> bus, std::shared_ptr<pg::Pool> pool) -> Task<void> {
        auto& state = bus->Internal();
        while (!state.stopping) {
            auto refresh = [&state] {
                for (const auto& sub : state.subscriptions) {
                    try {
                        const auto info = json::parse(state.nats->ApiRequest(
                            "CONSUMER.INFO." + sub->stream + "." + sub->durable, "",
                            std::chrono::milliseconds(2000)));
                        const auto& o = info.as_object();
                        if (!o.contains("num_pending")) continue;
                        const auto pending = o.at("num_pending").to_number<std::int64_t>();
                        const auto ack_pending = o.at("num_ack_pending").to_number<std::int64_t>();
                        sub->lag->Set(pending + ack_pending);
                        sub->ack_pending->Set(ack_pending);
                    } catch (const std::exception&) {
                        // NATS away: the gauges keep their last value
                    }
                }
                return 0;
            };
            co_await Offload(state.blocking.get_executor(), refresh);
            if (pool) {
                try {
                    auto pending = co_await pool->Execute(
                        "SELECT count(*) FROM bus_outbox WHERE published_at IS NULL");
                    state.outbox_pending->Set(pending.Int(0, 0));
                } catch (const std::exception&) {
                    // PostgreSQL away: the gauge keeps its last value
                }
            }
            state.lag_timer.expires_after(std::chrono::seconds(2));
            boost::system::error_code ec;
            co_await state.lag_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    };
    Spawn(executor_, lag_loop(self, pool_), "bus lag refresh");
    log::Info("bus started",
              {{"publishes", static_cast<std::int64_t>(state_->publishes.size())},
               {"consumers", static_cast<std::int64_t>(state_->subscriptions.size())}});
}

Task<void> Bus::Stop() {
    if (!state_->started || state_->stopping.exchange(true)) co_return;
    auto join = [this] {
        for (auto& worker : state_->workers)
            if (worker.joinable()) worker.join();
        return 0;
    };
    co_await Offload(state_->blocking.get_executor(), join);
    state_->lag_timer.cancel();
    if (pool_) {
        try {
            co_await RelayOnce(*this, *state_, *pool_);  // what committed during the drain
        } catch (const std::exception& e) {
            log::Warn("final outbox flush failed; another instance or the next start publishes it",
                      {{"error", e.what()}});
        }
        WakeRelay();  // lets the relay loop see `stopping` and end
        asio::steady_timer wait(executor_);
        for (int i = 0; i < 200 && state_->relay_loops.load() > 0; ++i) {
            wait.expires_after(std::chrono::milliseconds(10));
            co_await wait.async_wait(asio::use_awaitable);
        }
    }
    auto flush = [this] {
        if (state_->nats) state_->nats->Flush();
        return 0;
    };
    co_await Offload(state_->blocking.get_executor(), flush);
    log::Info("bus stopped");
}

Origin Bus::FromRequest(const std::string& request_id, const std::string& traceparent,
                        const std::string& what) const {
    Origin origin;
    origin.correlation_id = request_id.empty() ? Uuid::V7().ToString() : request_id;
    origin.traceparent = NextTraceparent(traceparent);
    origin.hop.service = settings_.service;
    origin.hop.instance = settings_.instance_id;
    origin.hop.start_us = NowMicros();
    origin.hop.tags = {{"request", what}};
    return origin;
}

Task<std::string> Bus::Emit(pg::Connection& connection, const std::string& topic,
                            const json::value& payload, const Origin& origin) {
    if (std::find(state_->publishes.begin(), state_->publishes.end(), topic) ==
        state_->publishes.end())
        throw std::logic_error("topic " + topic + " is not declared with Publishes()");
    std::string bytes = codec_.Encode(topic, payload);  // SchemaError rolls the caller back
    Envelope e;
    e.event_id = Uuid::V7().ToString();
    e.topic = topic;
    e.correlation_id = origin.correlation_id;
    e.causation_id = origin.causation_id;
    e.fingerprint = codec_.Fingerprint(topic);
    e.traceparent = origin.traceparent;
    e.produced_at_us = NowMicros();
    e.trail = origin.trail;
    Hop hop = origin.hop;
    hop.duration_us = e.produced_at_us - hop.start_us;
    hop.tags.emplace_back("emitted", topic);
    e.trail.push_back(hop);
    std::string record = "{\"kind\":\"publish\",\"event_id\":\"" + e.event_id + "\",\"topic\":\"" +
                         topic + "\",\"correlation_id\":";
    keel::json::AppendQuoted(record, e.correlation_id);
    record += ",\"causation_id\":";
    keel::json::AppendQuoted(record, e.causation_id);
    record += ",\"hop\":" + HopToJson(hop) + "}";
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(bytes.size() * 2);
    for (const unsigned char c : bytes) {
        hex += kHex[c >> 4];
        hex += kHex[c & 15];
    }
    co_await connection.Execute(
        "INSERT INTO bus_outbox (event_id, topic, headers, payload) VALUES ($1, $2, $3, decode($4, "
        "'hex'))",
        e.event_id, topic, HeadersJson(e, record), hex);
    ++state_->emitted;
    co_return e.event_id;
}

Task<void> Bus::Transaction(std::function<Task<void>(pg::Connection&)> body) {
    // Only a transaction that wrote outbox rows wakes the relay (a consumer batch that
    // emits nothing must not cost a relay pass). A concurrent Emit elsewhere may make
    // this wake needless, never missing.
    const auto before = state_->emitted.load();
    co_await pool_->Transaction(std::move(body));
    if (state_->emitted.load() != before) WakeRelay();
}

void Bus::WakeRelay() {
    state_->relay_wake = true;
    asio::post(state_->strand, [self = shared_from_this()] { self->state_->relay_timer.cancel(); });
}

}  // namespace keel::bus
