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

#include "event_trace.hpp"
#include "schema_registry.hpp"
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
-- Relay (relay.cpp): a row that can never be published (over NATS's max_payload, say)
-- is parked with its error instead of blocking the rows after it; `keel-bus outbox
-- unpark` clears both columns. Published rows stay a while so that `keel-bus outbox
-- republish` can send a window again (published_at index).
-- (Checked first: ALTER TABLE takes an exclusive lock even when the columns exist.)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'bus_outbox' AND column_name = 'parked_at') THEN
        ALTER TABLE bus_outbox ADD COLUMN parked_at timestamptz, ADD COLUMN park_error text;
    END IF;
END $$;
DROP INDEX IF EXISTS bus_outbox_unpublished;
CREATE INDEX IF NOT EXISTS bus_outbox_to_publish ON bus_outbox (seq)
    WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX IF NOT EXISTS bus_outbox_published_at ON bus_outbox (published_at);
-- Which instance relays the outbox, until when (database time). One outbox per
-- database, so one row ('outbox'); taken and renewed in one-statement transactions.
CREATE TABLE IF NOT EXISTS bus_relay_lease (
    name        text PRIMARY KEY,
    holder      text NOT NULL,
    expires_at  timestamptz NOT NULL,
    acquired_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS bus_inbox (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS bus_inbox_processed_at ON bus_inbox (processed_at);
-- Handler failures per redelivered event, counted by the consumer itself (JetStream's
-- delivery count also counts transient retries); a row lives from an event's first
-- failure to its success or dead letter.
CREATE TABLE IF NOT EXISTS bus_attempts (
    consumer   text NOT NULL,
    event_id   uuid NOT NULL,
    failures   integer NOT NULL,
    last_error text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
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
    s.nats_user = config.String("NATS_USER", "");
    s.nats_password = config.Secret("NATS_PASSWORD", "");
    s.replicas = static_cast<int>(config.Int("BUS_REPLICAS", 1, 1, 5));
    s.retention =
        std::chrono::seconds(config.Int("BUS_RETENTION_S", 7LL * 24 * 3600, 60, 365LL * 24 * 3600));
    s.stream_max_bytes = config.Int("BUS_STREAM_MAX_BYTES", 256LL << 20, 1 << 20, 1LL << 40);
    s.duplicate_window =
        std::chrono::seconds(config.Int("BUS_DUPLICATE_WINDOW_S", 15LL * 60, 1, 24LL * 3600));
    s.relay_poll = std::chrono::milliseconds(config.Int("BUS_RELAY_POLL_MS", 200, 5, 60'000));
    s.relay_lease = std::chrono::milliseconds(config.Int("BUS_RELAY_LEASE_MS", 5000, 500, 60'000));
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
    state_->outbox_pending = &registry.GetGauge(
        "keel_bus_outbox_pending", "Committed outbox events not yet published (parked ones aside)");
    state_->outbox_parked =
        &registry.GetGauge("keel_bus_outbox_parked",
                           "Outbox events the relay set aside because they can never be published");
    state_->parked_total = &registry.GetCounter("keel_bus_outbox_parked_total",
                                                "Outbox events parked by this instance");
    state_->redeclared = &registry.GetCounter(
        "keel_bus_redeclared_total",
        "Times this instance declared its streams and consumers again after JetStream lost them");
    state_->relay_leader = &registry.GetGauge("keel_bus_outbox_relay_leader",
                                              "1 while this instance holds the outbox relay lease");
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
    sub->transient_retries = &registry.GetCounter(
        "keel_bus_transient_retries_total",
        "Deliveries put back because PostgreSQL or NATS was unavailable (not handler failures)",
        labels);
    sub->deadline_exceeded =
        &registry.GetCounter("keel_bus_handler_deadline_exceeded_total",
                             "Batches abandoned at the handler deadline and redelivered", labels);
    sub->paused =
        &registry.GetGauge("keel_bus_consumer_paused",
                           "Workers not fetching while they wait for the database", labels);
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
        // Each handler call in its own event's context, for its log lines and the calls it
        // makes (also when the inbox left one event of a larger batch, which the consumer
        // runs without a context).
        for (const auto& event : events) {
            auto context = AmbientOf(event);
            co_await ambient::Run(std::move(context), handler(connection, event));
        }
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

ConsumerSpec ConsumerOf(const Subscription& sub) {
    ConsumerSpec consumer;
    consumer.durable = sub.durable;
    consumer.filter_subject = sub.topic;
    // Unlimited: the consumer counts handler failures itself and dead-letters after
    // max_deliver of them; JetStream's count also has transient retries and would drop
    // the message silently. (An existing consumer is updated to it.)
    consumer.max_deliver = -1;
    consumer.ack_wait = sub.options.ack_wait;
    return consumer;
}

// The streams and durable consumers this service needs, its entry in the registry and
// the schemas it writes: at start, and again whenever JetStream has lost them (a wiped
// store). Blocking; idempotent (existing ones are updated to the same settings).
void Declare(Nats& nats, const BusSettings& settings, const Codec& codec, const Bus::State& state) {
    for (const auto& stream : StreamsOf(settings, state)) nats.EnsureStream(stream);
    for (const auto& sub : state.subscriptions) nats.EnsureConsumer(sub->stream, ConsumerOf(*sub));
    auto msg = NewMsg("keel.registry." + settings.service, Declaration(settings, state));
    nats.Publish(msg.get());
    // The schemas this service writes, for consumers on other versions (schema_registry.hpp).
    nats.EnsureStream(SchemaStreamSpec(settings.replicas));
    PublishSchemas(nats, codec, state.publishes);
}

// JetStream's error code in an API answer, 0 when it is not an error.
std::int64_t ApiErrorCode(const json::value& answer) {
    if (!answer.is_object()) return 0;
    const auto* error = answer.as_object().if_contains("error");
    if (error == nullptr || !error->is_object()) return 0;
    const auto* code = error->as_object().if_contains("err_code");
    return code != nullptr && code->is_int64() ? code->as_int64() : -1;
}

constexpr std::int64_t kConsumerNotFound = 10014;
constexpr std::int64_t kStreamNotFound = 10059;

// The streams of ours that JetStream says it does not have; empty when it does not
// answer clearly (down, restarting, a leader election): only a definite answer counts.
std::vector<std::string> MissingStreams(Nats& nats, const BusSettings& settings,
                                        const Bus::State& state) {
    const auto answer =
        json::parse(nats.ApiRequest("STREAM.NAMES", "{}", std::chrono::milliseconds(2000)));
    if (ApiErrorCode(answer) != 0 || !answer.is_object()) return {};
    const auto& o = answer.as_object();
    const auto* total = o.if_contains("total");
    const auto* limit = o.if_contains("limit");
    if (total == nullptr ||
        (limit != nullptr && total->to_number<std::int64_t>() > limit->to_number<std::int64_t>()))
        return {};  // more names than one page: not worth paging for
    std::vector<std::string> have;
    if (const auto* names = o.if_contains("streams"); names != nullptr && names->is_array())
        for (const auto& n : names->as_array())
            if (n.is_string()) have.emplace_back(n.as_string());
    auto wanted = StreamsOf(settings, state);
    wanted.push_back(SchemaStreamSpec(settings.replicas));
    std::vector<std::string> missing;
    for (const auto& s : wanted)
        if (std::find(have.begin(), have.end(), s.name) == have.end()) missing.push_back(s.name);
    return missing;
}

// Lag per consumer, as JetStream counts it; the durables JetStream says it does not have
// are added to `missing`. Blocking: runs on the bus's own threads.
void RefreshConsumerLag(const Bus::State& state, std::vector<std::string>& missing) {
    for (const auto& sub : state.subscriptions) {
        try {
            const auto info = json::parse(
                state.nats->ApiRequest("CONSUMER.INFO." + sub->stream + "." + sub->durable, "",
                                       std::chrono::milliseconds(2000)));
            const auto error = ApiErrorCode(info);
            if (error == kConsumerNotFound || error == kStreamNotFound)
                missing.push_back("consumer " + sub->durable);
            if (!info.is_object() || !info.as_object().contains("num_pending")) continue;
            const auto position = PositionFromInfo(info.as_object());
            sub->lag->Set(position.Lag());
            sub->ack_pending->Set(position.ack_pending);
        } catch (const std::exception&) {
            // NATS away: the gauges keep their last value
        }
    }
}

// Every lag refresh also checks that JetStream still has our streams and consumers: a
// store that was wiped (or restored from an old backup), or a stream or consumer deleted
// by hand, would otherwise fail every publish ("no responders") and every fetch until
// each service restarts. What is missing is declared again as at start; the events
// JetStream lost are the operator's (`keel-bus outbox republish`).
void CheckDeclarations(const Bus& bus, Bus::State& state) {
    std::vector<std::string> missing;
    try {
        for (auto& name : MissingStreams(*state.nats, bus.Settings(), state))
            missing.push_back("stream " + name);
    } catch (const std::exception&) {
        // NATS away: nothing to conclude
    }
    RefreshConsumerLag(state, missing);
    // Only what is still missing a round later (2 s): `keel-bus replay` deletes a durable
    // and creates it again at once, and must not find it recreated from the start by us.
    const bool confirmed = state.missing_before;
    state.missing_before = !missing.empty();
    if (missing.empty()) state.redeclare_failing = false;
    if (missing.empty() || !confirmed) return;
    std::string what;
    for (const auto& m : missing) what += (what.empty() ? "" : ", ") + m;
    try {
        Declare(*state.nats, bus.Settings(), bus.GetCodec(), state);
    } catch (const std::exception& e) {
        if (!state.redeclare_failing)
            log::Error(
                "JetStream lost the bus's streams or consumers and declaring them again "
                "failed; retrying",
                {{"missing", what}, {"error", e.what()}});
        state.redeclare_failing = true;
        return;
    }
    state.redeclare_failing = false;
    state.redeclared->Inc();
    log::Warn(
        "JetStream had lost the bus's streams or consumers; declared them again (events "
        "it lost need `keel-bus outbox republish`)",
        {{"recreated", what}});
}

constexpr std::string_view kOutboxPendingSql =
    "SELECT count(*) FILTER (WHERE parked_at IS NULL), count(*) FILTER (WHERE parked_at IS NOT "
    "NULL) FROM bus_outbox WHERE published_at IS NULL";

// The lag gauges and the unpublished outbox rows, every few seconds (not after every
// relay round: that was a query per committed event). `bus` keeps `state` alive.
Task<void> LagRefreshLoop(std::shared_ptr<Bus> bus, Bus::State& state,
                          std::shared_ptr<pg::Pool> pool) {
    while (!state.stopping) {
        auto refresh = [&bus, &state] {
            CheckDeclarations(*bus, state);
            return 0;
        };
        co_await Offload(state.blocking.get_executor(), std::move(refresh));
        if (pool) {
            try {
                auto pending = co_await pool->Execute(kOutboxPendingSql);
                state.outbox_pending->Set(pending.Int(0, 0));
                state.outbox_parked->Set(pending.Int(0, 1));
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
    options.user = settings_.nats_user;
    options.password = settings_.nats_password;
    state_->nats = Nats::Connect(options);
    Declare(*state_->nats, settings_, codec_, *state_);
    // The lookup of the writer schemas its consumers meet and do not know.
    state_->schemas =
        std::make_shared<SchemaLookup>(codec_, state_->nats, state_->blocking.get_executor());
    for (const auto& sub : state_->subscriptions) sub->schemas = state_->schemas.get();
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
    state_->pool = pool_;
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
        // The relay loops end first, then one last pass publishes what committed during
        // the drain, then the lease goes so that another instance relays at once.
        WakeRelay();  // lets the relay loop see `stopping` and end
        asio::steady_timer wait(executor_);
        for (int i = 0; i < 200 && state_->relay_loops.load() > 0; ++i) {
            wait.expires_after(std::chrono::milliseconds(10));
            co_await wait.async_wait(asio::use_awaitable);
        }
        try {
            co_await RelayOnce(*this, *state_, *pool_);
        } catch (const std::exception& e) {
            log::Warn("final outbox flush failed; another instance or the next start publishes it",
                      {{"error", e.what()}});
        }
        try {
            co_await ReleaseRelayLease(*this, *state_, *pool_);
        } catch (const std::exception& e) {
            log::Warn("relay lease not released; it expires by itself", {{"error", e.what()}});
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
    origin.traceparent = ContinueTraceparent(traceparent);
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
    e.event_id = Uuid::V7().ToString();  // lower-case, as PostgreSQL's uuid::text (the inbox)
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
    // Nothing reads the row back in this transaction: it goes with the next statement or
    // the COMMIT, in the same round trip (a failure still fails the transaction).
    co_await connection.ExecuteLater(
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
