#include <keel/bus/bus.hpp>

#include <boost/asio/redirect_error.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <keel/bus/consumer_position.hpp>
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
    s.urls = SplitUrlList(config.String("NATS_URL", "nats://127.0.0.1:4222"));
    s.replicas = static_cast<int>(config.Int("BUS_REPLICAS", 1, 1, 5));
    s.retention =
        std::chrono::seconds(config.Int("BUS_RETENTION_S", 7LL * 24 * 3600, 60, 365LL * 24 * 3600));
    s.stream_max_bytes = config.Int("BUS_STREAM_MAX_BYTES", 256LL << 20, 1 << 20, 1LL << 40);
    s.duplicate_window =
        std::chrono::seconds(config.Int("BUS_DUPLICATE_WINDOW_S", 15LL * 60, 1, 24LL * 3600));
    s.relay_poll = std::chrono::milliseconds(config.Int("BUS_RELAY_POLL_MS", 200, 5, 60'000));
    s.record_trail = config.Bool("BUS_TRAIL", true);
    return s;
}

std::shared_ptr<Bus> Bus::Create(asio::any_io_executor executor, std::shared_ptr<pg::Pool> pool,
                                 BusSettings settings) {
    return std::make_shared<Bus>(std::move(executor), std::move(pool), std::move(settings));
}

Bus::Bus(asio::any_io_executor executor, std::shared_ptr<pg::Pool> pool, BusSettings settings)
    : executor_(std::move(executor)),
      pool_(std::move(pool)),
      settings_(std::move(settings)),
      codec_(Codec::Embedded()),
      state_(std::make_unique<State>(executor_)) {
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

namespace {

// One stream per domain ("orders.>" -> ORDERS) plus the bus's own: dead letters,
// trail records and the registry of declarations.
std::vector<StreamSpec> StreamsOf(const BusSettings& settings, const Bus::State& state) {
    StreamSpec base;
    base.max_age = settings.retention;
    base.max_bytes = settings.stream_max_bytes;
    base.duplicates = settings.duplicate_window;
    base.replicas = settings.replicas;
    std::vector<StreamSpec> out;
    auto add = [&](const std::string& name, const std::string& subject) {
        for (const auto& s : out)
            if (s.name == name) return;
        StreamSpec s = base;
        s.name = name;
        s.subjects = {subject};
        if (name == kRegistryStream) {
            s.max_msgs_per_subject = 1;
            s.max_bytes = 1 << 20;
        }
        out.push_back(std::move(s));
    };
    auto domain = [](const std::string& topic) { return topic.substr(0, topic.find('.')) + ".>"; };
    for (const auto& topic : state.publishes) add(StreamOf(topic), domain(topic));
    for (const auto& sub : state.subscriptions) add(sub->stream, domain(sub->topic));
    add(kDlqStream, "dlq.>");
    add(kTrailStream, "trail.>");
    add(kRegistryStream, "keel.registry.>");
    return out;
}

// What this service publishes and consumes, for `keel-bus graph`.
std::string Declaration(const BusSettings& settings, const Bus::State& state) {
    json::array publishes, consumes;
    for (const auto& topic : state.publishes) publishes.push_back(json::value(topic));
    for (const auto& sub : state.subscriptions)
        consumes.push_back(json::object{{"topic", sub->topic}, {"consumer", sub->durable}});
    return json::serialize(json::object{{"service", settings.service},
                                        {"instance", settings.instance_id},
                                        {"publishes", std::move(publishes)},
                                        {"consumes", std::move(consumes)},
                                        {"declared_at_us", NowMicros()}});
}

// Lag per consumer, as JetStream counts it. Blocking: runs on the bus's own threads.
void RefreshConsumerLag(const Bus::State& state) {
    for (const auto& sub : state.subscriptions) {
        try {
            const auto info = json::parse(
                state.nats->ApiRequest("CONSUMER.INFO." + sub->stream + "." + sub->durable, "",
                                       std::chrono::milliseconds(2000)));
            if (!info.is_object() || !info.as_object().contains("num_pending")) continue;
            const auto position = PositionFromInfo(info.as_object());
            sub->lag->Set(position.Lag());
            sub->ack_pending->Set(position.ack_pending);
        } catch (const std::exception&) {
            // NATS away: the gauges keep their last value
        }
    }
}

constexpr std::string_view kOutboxPendingSql =
    "SELECT count(*) FROM bus_outbox WHERE published_at IS NULL";

// The lag gauges and the unpublished outbox rows, every few seconds (not after every
// relay round: that was a query per committed event). `bus` keeps `state` alive.
Task<void> LagRefreshLoop([[maybe_unused]] std::shared_ptr<Bus> bus, Bus::State& state,
                          std::shared_ptr<pg::Pool> pool) {
    while (!state.stopping) {
        auto refresh = [&state] {
            RefreshConsumerLag(state);
            return 0;
        };
        co_await Offload(state.blocking.get_executor(), std::move(refresh));
        if (pool) {
            try {
                auto pending = co_await pool->Execute(kOutboxPendingSql);
                state.outbox_pending->Set(pending.Int(0, 0));
            } catch (const std::exception&) {
                // PostgreSQL away: the gauge keeps its last value
            }
        }
        state.lag_timer.expires_after(std::chrono::seconds(2));
        boost::system::error_code ec;
        co_await state.lag_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

constexpr std::string_view kSchemaLockSql = "SELECT pg_advisory_lock(hashtext('keel-bus-schema'))";
constexpr std::string_view kSchemaUnlockSql =
    "SELECT pg_advisory_unlock(hashtext('keel-bus-schema'))";

}  // namespace

void Bus::Connect() {
    Nats::Options options;
    options.urls = settings_.urls;
    options.name = settings_.instance_id;
    state_->nats = Nats::Connect(options);
    for (const auto& stream : StreamsOf(settings_, *state_)) state_->nats->EnsureStream(stream);
    for (const auto& sub : state_->subscriptions) {
        ConsumerSpec consumer;
        consumer.durable = sub->durable;
        consumer.filter_subject = sub->topic;
        consumer.max_deliver = sub->options.max_deliver;
        consumer.ack_wait = sub->options.ack_wait;
        state_->nats->EnsureConsumer(sub->stream, consumer);
    }
    auto msg = NewMsg("keel.registry." + settings_.service, Declaration(settings_, *state_));
    state_->nats->Publish(msg.get());
}

// Instances of one service start together: the lock keeps their DDL apart.
Task<void> CreateBusTables(pg::Pool& pool) {
    auto lease = co_await pool.Acquire();
    co_await lease->Execute(kSchemaLockSql);
    co_await lease->ExecuteScript(kSchema);
    co_await lease->Execute(kSchemaUnlockSql);
}

Task<void> Bus::Start() {
    auto self = shared_from_this();
    auto connect = [this] {
        Connect();
        return 0;
    };
    co_await Offload(state_->blocking.get_executor(), std::move(connect));
    if (pool_) co_await CreateBusTables(*pool_);
    state_->started = true;
    for (const auto& sub : state_->subscriptions) StartWorkers(self, *state_, sub);
    if (pool_) Spawn(state_->strand, RelayLoop(self, *state_, pool_), "outbox relay");
    Spawn(executor_, LagRefreshLoop(self, *state_, pool_), "bus lag refresh");
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
