// Durable pull consumers. Each worker is a thread that fetches a batch (libnats's
// fetch blocks) and hands it to the io threads, where it is decoded and handled in
// one transaction with the inbox; while that runs long, the worker tells JetStream
// the messages are in progress so they are not redelivered meanwhile, up to the
// handler deadline. Transient failures (database or NATS away) are retried without
// counting and pause the worker until the database answers; handler failures are
// counted in bus_attempts and dead-lettered after max_deliver.
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <nats/nats.h>

#include <algorithm>
#include <future>
#include <set>

#include <keel/core/ambient.hpp>
#include <keel/core/log.hpp>
#include <keel/core/offload.hpp>
#include <keel/core/uuid.hpp>

#include "event_trace.hpp"
#include "state.hpp"

namespace keel::bus {
namespace json = boost::json;

namespace {

struct Delivery {
    natsMsg* msg = nullptr;
    std::uint64_t stream_sequence = 0;
    std::uint64_t deliveries = 1;
    std::atomic<bool> settled{false};  // acked, nacked or terminated
};

std::string HeaderSafe(std::string text) {
    for (auto& c : text)
        if (c == '\r' || c == '\n') c = ' ';
    if (text.size() > 1000) text.resize(1000);
    return text;
}

// Decodes envelope and payload; throws DecodeError with the reason.
Event DecodeEvent(const Bus& bus, const Subscription& sub, Delivery& d) {
    Event event;
    auto& e = event.envelope;
    e.topic = SubjectOf(d.msg);
    const auto id = Uuid::Parse(GetHeader(d.msg, header::kEventId));
    if (!id) throw DecodeError("missing or malformed " + std::string(header::kEventId));
    // Canonical (lower-case): the inbox matches ids against PostgreSQL's uuid::text, where
    // an upper-case header would pass for a duplicate and its event be skipped.
    e.event_id = id->ToString();
    e.correlation_id = GetHeader(d.msg, header::kCorrelationId);
    if (e.correlation_id.empty()) e.correlation_id = e.event_id;
    e.causation_id = GetHeader(d.msg, header::kCausationId);
    e.fingerprint = GetHeader(d.msg, header::kFingerprint);
    // It names a registry subject and a lookup entry: 16 lower-case hex digits or nothing.
    const bool hex16 = e.fingerprint.size() == 16 &&
                       e.fingerprint.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!e.fingerprint.empty() && !hex16)
        throw DecodeError("malformed " + std::string(header::kFingerprint) + " header");
    e.traceparent = GetHeader(d.msg, header::kTraceparent);
    const auto produced = GetHeader(d.msg, header::kProducedAt);
    e.produced_at_us = produced.empty() ? 0 : std::strtoll(produced.c_str(), nullptr, 10);
    try {
        e.trail = TrailFromJson(GetHeader(d.msg, header::kTrail));
    } catch (const std::invalid_argument& ex) {
        throw DecodeError(ex.what());
    }
    // Another compatible version's schema is resolved into ours; an unknown one (a deploy
    // in progress) is looked up in the registry while the event waits (UnavailableError).
    try {
        event.payload = bus.GetCodec().Decode(e.topic, DataOf(d.msg), e.fingerprint);
    } catch (const UnknownSchemaError&) {
        throw UnknownSchemaError(e.topic, e.fingerprint,
                                 ReportUnknownSchema(sub, e.topic, e.fingerprint));
    }
    event.stream_sequence = d.stream_sequence;
    event.deliveries = d.deliveries;
    auto& next = event.next;
    next.correlation_id = e.correlation_id;
    next.causation_id = e.event_id;
    next.traceparent = NextTraceparent(e.traceparent);
    next.trail = e.trail;
    next.hop.service = bus.Settings().service;
    next.hop.instance = bus.Settings().instance_id;
    next.hop.start_us = NowMicros();
    next.hop.tags = {{"consumer", sub.durable}, {"topic", e.topic}};
    return event;
}

// One fetched batch. It owns the fetched messages: a coroutine abandoned at the
// deadline may still use them, so they are freed with the last reference, not when
// the worker moves on.
struct Batch {
    std::shared_ptr<Bus> bus;
    Bus::State* state = nullptr;  // the bus's, alive as long as `bus`
    std::shared_ptr<Subscription> sub;
    natsMsgList list{};
    std::vector<std::unique_ptr<Delivery>> deliveries;
    // The handler's coroutine runs on this strand, and the deadline's cancellation is
    // emitted on it too: Asio's cancellation slots are not thread-safe, and the io
    // executor has several threads.
    asio::any_io_executor strand;
    asio::cancellation_signal cancel;    // emitted (on `strand`) at the deadline
    std::atomic<bool> abandoned{false};  // the deadline passed: the worker settled the rest
    std::atomic<bool> transient{false};  // a transient failure: the worker pauses fetching
    std::promise<void> done;

    ~Batch() {
        deliveries.clear();
        natsMsgList_Destroy(&list);
    }
};

// The worker and the handler's coroutine may both try to settle a message (after the
// deadline): the first one does.
bool Claim(Delivery& d) { return !d.settled.exchange(true); }

void NakAfter(Delivery& d, std::chrono::milliseconds delay) {
    if (Claim(d)) natsMsg_NakWithDelay(d.msg, delay.count(), nullptr);
}

std::chrono::milliseconds Backoff(const SubscribeOptions& options, std::int64_t failures) {
    const std::chrono::milliseconds delay =
        options.backoff_base * (1LL << std::clamp<std::int64_t>(failures - 1, 0, 20));
    return std::min(delay, options.backoff_max);
}

void RecordHop(Bus& bus, const Subscription& sub, const Event& event, const char* outcome) {
    const auto now = NowMicros();
    sub.handler_seconds->Observe(static_cast<double>(now - event.next.hop.start_us) / 1e6);
    RecordConsumerSpan(event, sub.durable, outcome, now);
    if (!bus.Settings().record_trail) return;
    Hop hop = event.next.hop;
    hop.duration_us = now - hop.start_us;
    hop.tags.emplace_back("outcome", outcome);
    std::string record = "{\"kind\":\"consume\",\"event_id\":\"" + event.envelope.event_id +
                         "\",\"topic\":\"" + event.envelope.topic + "\",\"correlation_id\":";
    keel::json::AppendQuoted(record, event.envelope.correlation_id);
    record += ",\"causation_id\":";
    keel::json::AppendQuoted(record, event.envelope.causation_id);
    if (const auto span = AmbientOf(event))  // joins the trail to the trace (keel-bus trail)
        record += ",\"trace_id\":\"" + span->trace_id + "\",\"span_id\":\"" + span->span_id + "\"";
    record += ",\"hop\":" + HopToJson(hop) + "}";
    bus.Connection()->PublishNoWait("trail." + SubjectToken(event.envelope.correlation_id), record);
}

// Copies `msg` to dlq.<topic> with the reason. Blocking: run on the bus pool. `msg_id`
// lets JetStream drop a second copy (advisories reach every instance's listener).
void PublishDeadLetter(Nats& nats, const Subscription& sub, natsMsg* msg,
                       std::uint64_t stream_sequence, std::uint64_t deliveries,
                       const std::string& reason, const std::string& msg_id = "") {
    auto copy = NewMsg("dlq." + std::string(SubjectOf(msg)), DataOf(msg));
    for (const char* key :
         {header::kEventId, header::kCorrelationId, header::kCausationId, header::kFingerprint,
          header::kProducedAt, header::kTrail, header::kTraceparent}) {
        const auto value = GetHeader(msg, key);
        if (!value.empty()) SetHeader(copy.get(), key, value);
    }
    SetHeader(copy.get(), header::kDlqConsumer, sub.durable);
    SetHeader(copy.get(), header::kDlqError, HeaderSafe(reason));
    SetHeader(copy.get(), header::kDlqDeliveries, std::to_string(deliveries));
    SetHeader(copy.get(), header::kDlqStreamSeq, std::to_string(stream_sequence));
    nats.Publish(copy.get(), msg_id);
}

// Returns true when the message went to dlq.<topic> and was terminated.
Task<bool> DeadLetter(Batch& batch, Delivery& d, const std::string& reason) {
    auto& state = *batch.state;
    if (!Claim(d)) co_return false;  // abandoned at the deadline: already put back
    try {
        auto publish = [&] {
            PublishDeadLetter(*state.nats, *batch.sub, d.msg, d.stream_sequence, d.deliveries,
                              reason);
            return 0;
        };
        co_await Offload(state.blocking.get_executor(), publish);
    } catch (const std::exception& e) {
        log::Error("dead letter publish failed; message will be redelivered",
                   {{"consumer", batch.sub->durable}, {"error", e.what()}});
        natsMsg_NakWithDelay(d.msg, 1000, nullptr);
        co_return false;
    }
    log::Warn("message dead-lettered",
              {{"consumer", batch.sub->durable},
               {"stream_seq", static_cast<std::int64_t>(d.stream_sequence)},
               {"error", reason}});
    batch.sub->dead_letters->Inc();
    natsMsg_Term(d.msg, nullptr);
    co_return true;
}

// Failure bookkeeping in bus_attempts (transactional subscriptions only). A redelivered
// event's attempt is counted in its own committed statement before the handler runs,
// so an event that kills the process mid-handler is counted too.
constexpr std::string_view kStartAttemptSql = R"sql(
INSERT INTO bus_attempts (consumer, event_id, failures) VALUES ($1, $2::uuid, 1)
ON CONFLICT (consumer, event_id)
DO UPDATE SET failures = bus_attempts.failures + 1, updated_at = now()
RETURNING failures - 1, last_error)sql";
constexpr std::string_view kUndoAttemptSql =
    "UPDATE bus_attempts SET failures = failures - 1, updated_at = now() "
    "WHERE consumer = $1 AND event_id = $2::uuid AND failures > 0";
// $4: 1 for a first delivery, 0 when the attempt was counted when it started.
constexpr std::string_view kRecordFailureSql = R"sql(
INSERT INTO bus_attempts (consumer, event_id, failures, last_error) VALUES ($1, $2::uuid, 1, $3)
ON CONFLICT (consumer, event_id) DO UPDATE
SET failures = bus_attempts.failures + $4, last_error = excluded.last_error, updated_at = now()
RETURNING failures)sql";
constexpr std::string_view kClearAttemptsSql =
    "DELETE FROM bus_attempts WHERE consumer = $1 AND event_id = $2::uuid";

// A transaction abandoned at the deadline is rolled back when the server notices its
// connection is gone, which it does not while a statement runs: make it check the
// client every second, and stop a statement itself just after the deadline.
constexpr std::string_view kTransactionLimitsSql =
    "SELECT set_config('statement_timeout', $1, true), "
    "set_config('client_connection_check_interval', '1000', true)";

constexpr std::string_view kInboxSql =
    "INSERT INTO bus_inbox (consumer, event_id) SELECT $1, unnest($2::uuid[]) "
    "ON CONFLICT DO NOTHING RETURNING event_id::text";

struct Outcome {
    enum Kind { kOk, kFailed, kTransient, kAbandoned };
    Kind kind = kOk;
    std::string error;
};

// Runs the handler for `events` in one transaction with their inbox rows (and, for a
// redelivered event, the removal of its failure count).
Task<Outcome> RunInTransaction(Batch& batch, std::span<const Event> events, bool clear_attempts,
                               std::size_t* duplicates) {
    auto& sub = *batch.sub;
    Outcome outcome;
    *duplicates = 0;
    try {
        // One event: its handling runs in its consumer span's context (several: the event
        // handler wrapper gives each its own, bus.cpp; a batch handler has none of them).
        std::shared_ptr<const ambient::Context> context;
        if (events.size() == 1) context = AmbientOf(events[0]);
        if (sub.plain) {
            co_await ambient::Run(context, sub.plain(events));
            co_return outcome;
        }
        std::string ids = "{";
        for (const auto& e : events) {
            if (ids.size() > 1) ids += ",";
            ids += e.envelope.event_id;
        }
        ids += "}";
        // A little past the deadline, so that the worker abandons the batch first (an
        // overrun counts; a statement_timeout, 57014, alone would be transient).
        const std::string timeout = std::to_string(sub.options.handler_deadline.count() + 2000);
        auto body = [&](pg::Connection& c) -> Task<void> {
            // BEGIN, the limits, the attempts and the inbox in one round trip.
            std::vector<pg::Statement> head;
            head.push_back(pg::Statement{std::string(kTransactionLimitsSql), {timeout}});
            if (clear_attempts)
                head.push_back(pg::Statement{std::string(kClearAttemptsSql),
                                             {sub.durable, events[0].envelope.event_id}});
            head.push_back(pg::Statement{std::string(kInboxSql), {sub.durable, ids}});
            auto results = co_await c.ExecuteMany(std::move(head));
            const pg::Result fresh = std::move(results.back());
            if (static_cast<std::size_t>(fresh.Rows()) == events.size()) {
                co_await ambient::Run(context, sub.batch(c, events));
                co_return;
            }
            std::set<std::string, std::less<>> todo;
            for (int i = 0; i < fresh.Rows(); ++i) todo.emplace(fresh.Text(i, 0));
            std::vector<Event> some;
            for (const auto& e : events)
                if (todo.erase(e.envelope.event_id) > 0) some.push_back(e);
            *duplicates = events.size() - some.size();
            if (!some.empty()) co_await ambient::Run(context, sub.batch(c, some));
        };
        co_await batch.bus->Transaction(body);
    } catch (const std::exception& e) {
        outcome.error = e.what();
        if (outcome.error.empty()) outcome.error = "handler failed";
        outcome.kind = Outcome::kFailed;
        if (pg::IsTransient(e)) outcome.kind = Outcome::kTransient;
        if (batch.abandoned) outcome.kind = Outcome::kAbandoned;
    }
    co_return outcome;
}

// A transient failure: every message not yet settled is put back with a delay that grows
// while failures last, and the worker pauses fetching until the database answers.
void Defer(Batch& batch, const std::string& error) {
    // After the deadline the worker has put the messages back; a failure of the cancelled
    // handler says nothing about the database, so it must not pause the consumer.
    if (batch.abandoned) return;
    auto& sub = *batch.sub;
    const auto delay = Backoff(sub.options, ++sub.transient_streak);
    std::uint64_t deferred = 0;
    for (auto& d : batch.deliveries) {
        if (!Claim(*d)) continue;
        natsMsg_NakWithDelay(d->msg, delay.count(), nullptr);
        ++deferred;
    }
    sub.transient_retries->Inc(deferred);
    batch.transient = true;
    log::Warn("transient failure; messages redelivered later, not counted as handler failures",
              {{"consumer", sub.durable},
               {"messages", static_cast<std::int64_t>(deferred)},
               {"delay_ms", static_cast<std::int64_t>(delay.count())},
               {"error", error}});
}

void Succeeded(Batch& batch, Delivery& d, const Event& event, bool duplicate) {
    auto& sub = *batch.sub;
    sub.transient_streak = 0;
    if (!Claim(d)) return;
    natsMsg_Ack(d.msg, nullptr);
    RecordHop(*batch.bus, sub, event, duplicate ? "duplicate" : "processed");
    (duplicate ? sub.duplicates : sub.processed)->Inc();
}

// The handler itself failed on `event` (`failures` times in all): redeliver later, or
// dead-letter once max_deliver is reached.
Task<void> Failed(Batch& batch, Delivery& d, const Event& event, const std::string& reason,
                  std::int64_t failures) {
    auto& sub = *batch.sub;
    auto& state = *batch.state;
    RecordHop(*batch.bus, sub, event, "failed");
    if (failures >= sub.options.max_deliver) {
        const bool dead = co_await DeadLetter(batch, d, reason);
        if (!dead || sub.plain) co_return;
        try {  // a later `keel-bus dlq retry` starts a fresh count
            co_await state.pool->Execute(kClearAttemptsSql, sub.durable, event.envelope.event_id);
        } catch (const std::exception&) {
            // left over: the retry is then dead-lettered sooner; rare and harmless
        }
        co_return;
    }
    log::Warn("handler failed; redelivering later",
              {{"consumer", sub.durable},
               {"failures", failures},
               {"delivery", static_cast<std::int64_t>(d.deliveries)},
               {"error", reason}});
    sub.retried->Inc();
    NakAfter(d, Backoff(sub.options, failures));
}

// What to do after one event's own transaction; false on a transient failure (the
// caller defers the rest of the batch).
Task<bool> Settle(Batch& batch, Delivery& d, const Event& event, bool counted,
                  const Outcome& outcome, std::size_t duplicates) {
    auto& sub = *batch.sub;
    auto& state = *batch.state;
    if (outcome.kind == Outcome::kOk) {
        Succeeded(batch, d, event, duplicates > 0);
        co_return true;
    }
    if (outcome.kind == Outcome::kAbandoned) co_return true;
    if (outcome.kind == Outcome::kTransient) {
        if (counted) {
            try {  // the attempt did not really happen
                co_await state.pool->Execute(kUndoAttemptSql, sub.durable, event.envelope.event_id);
            } catch (const std::exception&) {
                // database away: the attempt stays counted (at most one per outage)
            }
        }
        co_return false;
    }
    std::int64_t failures = static_cast<std::int64_t>(d.deliveries);  // plain: JetStream's
    bool recorded = static_cast<bool>(sub.plain);
    bool unavailable = false;
    if (!sub.plain) {
        try {
            const std::string error = HeaderSafe(outcome.error);
            const int started = counted ? 0 : 1;
            auto row = co_await state.pool->Execute(kRecordFailureSql, sub.durable,
                                                    event.envelope.event_id, error, started);
            failures = row.Int(0, 0);
            recorded = true;
        } catch (const std::exception& e) {
            unavailable = pg::IsTransient(e);
        }
    }
    if (!recorded && unavailable) co_return false;
    if (!recorded) failures = 1;
    co_await Failed(batch, d, event, outcome.error, failures);
    co_return true;
}

// A redelivered event in a transactional subscription: counts the attempt before the
// handler runs. Returns the failures before this attempt, or -1 when the database is
// away (the caller defers).
Task<std::int64_t> StartAttempt(Batch& batch, const Event& event, std::string* last_error) {
    auto& sub = *batch.sub;
    try {
        auto row = co_await batch.state->pool->Execute(kStartAttemptSql, sub.durable,
                                                       event.envelope.event_id);
        *last_error = row.Text(0, 1);
        co_return row.Int(0, 0);
    } catch (const std::exception& e) {
        if (pg::IsTransient(e)) co_return -1;
        log::Error("cannot count the attempt; handling it uncounted",
                   {{"consumer", sub.durable}, {"error", e.what()}});
    }
    co_return 0;
}

// One event in its own transaction; false on a transient failure.
Task<bool> HandleOne(Batch& batch, Delivery& d, const Event& event) {
    auto& sub = *batch.sub;
    const bool counted = !sub.plain && d.deliveries > 1;
    if (counted) {
        std::string last_error;
        const std::int64_t prior = co_await StartAttempt(batch, event, &last_error);
        if (prior < 0) co_return false;
        if (prior >= sub.options.max_deliver) {
            // The previous attempts ended without an answer: the process died or the
            // deadline passed mid-handler.
            std::string reason = "handler did not finish in " + std::to_string(prior) +
                                 " attempts (process crash or handler_deadline)";
            if (!last_error.empty()) reason += "; last error: " + last_error;
            co_await Failed(batch, d, event, reason, prior + 1);
            co_return true;
        }
    }
    std::size_t duplicates = 0;
    const std::span<const Event> one(&event, 1);
    const Outcome outcome = co_await RunInTransaction(batch, one, counted, &duplicates);
    co_return co_await Settle(batch, d, event, counted, outcome, duplicates);
}

Task<void> HandleBatch(std::shared_ptr<Batch> batch) {
    auto& bus = *batch->bus;
    auto& sub = *batch->sub;
    std::vector<Event> events;
    std::vector<Delivery*> owners;
    events.reserve(batch->deliveries.size());
    bool redelivered = false;
    for (auto& d : batch->deliveries) {
        if (d->deliveries > 1) {
            sub.redeliveries->Inc();
            redelivered = true;
        }
        std::string undecodable;
        bool wait = false;
        try {
            events.push_back(DecodeEvent(bus, sub, *d));
            owners.push_back(d.get());
        } catch (const std::exception& e) {
            undecodable = std::string("cannot decode: ") + e.what();
            wait = pg::IsTransient(e);  // a writer schema not learned yet: never dead
        }
        if (wait) {
            sub.transient_retries->Inc();
            NakAfter(*d, Backoff(sub.options, static_cast<std::int64_t>(d->deliveries)));
        } else if (!undecodable.empty()) {
            co_await DeadLetter(*batch, *d, undecodable);
        }
    }
    if (events.empty()) co_return;
    // A batch with a redelivered message may hold the event that failed or crashed the
    // process before: one event per transaction, so it cannot take the others with it.
    if (!redelivered) {
        std::size_t duplicates = 0;
        const Outcome all = co_await RunInTransaction(*batch, events, false, &duplicates);
        if (all.kind == Outcome::kOk) {
            sub.transient_streak = 0;
            for (std::size_t i = 0; i < events.size(); ++i) {
                if (!Claim(*owners[i])) continue;
                natsMsg_Ack(owners[i]->msg, nullptr);
                RecordHop(bus, sub, events[i], "processed");
            }
            sub.processed->Inc(events.size() - duplicates);
            sub.duplicates->Inc(duplicates);
            co_return;
        }
        if (all.kind == Outcome::kAbandoned) co_return;
        if (all.kind == Outcome::kTransient) {
            Defer(*batch, all.error);
            co_return;
        }
        if (events.size() == 1) {  // its own failure: no need to run it again
            const bool ok = co_await Settle(*batch, *owners[0], events[0], false, all, 0);
            if (!ok) Defer(*batch, all.error);
            co_return;
        }
    }
    for (std::size_t i = 0; i < events.size(); ++i) {
        if (batch->abandoned) co_return;
        const bool ok = co_await HandleOne(*batch, *owners[i], events[i]);
        if (!ok) {
            Defer(*batch, "database unavailable");
            co_return;
        }
    }
}

// Binds to the durable consumer, retrying while JetStream is away; null when stopping.
natsSubscription* BindConsumer(Bus::State& state, const Subscription& sub) {
    while (!state.stopping) {
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = sub.stream.c_str();
        so.Consumer = sub.durable.c_str();  // bind: the consumer exists and outlives us
        jsErrCode jerr = static_cast<jsErrCode>(0);
        natsSubscription* subscription = nullptr;
        const natsStatus s = js_PullSubscribe(&subscription, state.nats->Js(), sub.topic.c_str(),
                                              sub.durable.c_str(), nullptr, &so, &jerr);
        if (s == NATS_OK) return subscription;
        log::Warn("cannot bind to consumer; retrying",
                  {{"consumer", sub.durable}, {"error", natsStatus_GetText(s)}});
        std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    return nullptr;
}

std::shared_ptr<Batch> NewBatch(const std::shared_ptr<Bus>& bus, Bus::State& state,
                                const std::shared_ptr<Subscription>& sub, natsMsgList list) {
    auto batch = std::make_shared<Batch>();
    batch->bus = bus;
    batch->state = &state;
    batch->sub = sub;
    batch->list = list;
    for (int i = 0; i < list.Count; ++i) {
        auto d = std::make_unique<Delivery>();
        d->msg = list.Msgs[i];
        if (const auto meta = MetadataOf(d->msg)) {
            d->stream_sequence = meta->stream_sequence;
            d->deliveries = meta->deliveries;
        }
        batch->deliveries.push_back(std::move(d));
    }
    return batch;
}

// The deadline passed: stop the handlers (cancelling the coroutine drops its database
// connection, which rolls the transaction back) and put the messages back.
void Abandon(const std::shared_ptr<Batch>& batch) {
    auto& sub = *batch->sub;
    batch->abandoned = true;
    sub.deadline_exceeded->Inc();
    log::Warn("handler deadline passed; batch abandoned and redelivered",
              {{"consumer", sub.durable},
               {"messages", static_cast<std::int64_t>(batch->deliveries.size())},
               {"deadline_ms", static_cast<std::int64_t>(sub.options.handler_deadline.count())}});
    asio::post(batch->strand, [batch] { batch->cancel.emit(asio::cancellation_type::terminal); });
    for (auto& d : batch->deliveries) NakAfter(*d, Backoff(sub.options, 1));
}

// Hands the batch to the io threads and, while it runs, tells JetStream every third of
// ack_wait that its messages are still in progress, until the handler deadline passes
// without progress. Returns when the batch is settled (or abandoned).
void RunBatch(const std::shared_ptr<Batch>& batch) {
    const auto& sub = batch->sub;
    const auto progress_every = std::max(sub->options.ack_wait / 3, std::chrono::milliseconds(100));
    auto finished = batch->done.get_future();
    auto completion = [batch](const std::exception_ptr& e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                if (!batch->abandoned)
                    log::Error("batch handling failed",
                               {{"consumer", batch->sub->durable}, {"error", ex.what()}});
            }
        }
        batch->done.set_value();
    };
    batch->strand = asio::make_strand(batch->bus->Executor());
    // Without an ambient context: HandleBatch resumes inline after each handler's (see
    // ambient::Run), and its own log lines name their events explicitly.
    asio::co_spawn(ambient::With(batch->strand, nullptr), HandleBatch(batch),
                   asio::bind_cancellation_slot(batch->cancel.slot(), std::move(completion)));
    // The deadline runs from the last settled message (seen within a second): a
    // redelivered batch is handled one event at a time, each with the whole deadline.
    const auto now = [] { return std::chrono::steady_clock::now(); };
    auto deadline = now() + sub->options.handler_deadline;
    auto next_progress = now() + progress_every;
    std::size_t settled = 0;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now());
        if (left.count() <= 0) {
            Abandon(batch);
            // Give the cancelled handler a moment to let its connection go; a handler
            // that ignores cancellation keeps the batch (and its messages) alive itself.
            if (finished.wait_for(std::chrono::seconds(5)) == std::future_status::timeout)
                log::Error("abandoned handler still running; fetching goes on without it",
                           {{"consumer", sub->durable}});
            return;
        }
        const auto poll = std::min(left, std::chrono::milliseconds(1000));
        if (finished.wait_for(poll) == std::future_status::ready) break;
        std::size_t now_settled = 0;
        for (auto& d : batch->deliveries) now_settled += d->settled ? 1 : 0;
        if (now_settled > settled) deadline = now() + sub->options.handler_deadline;
        settled = now_settled;
        if (now() < next_progress) continue;
        next_progress = now() + progress_every;
        for (auto& d : batch->deliveries)
            if (!d->settled) natsMsg_InProgress(d->msg, nullptr);
    }
    // Anything the handler left unsettled (an exception escaped) comes back later.
    for (auto& d : batch->deliveries) NakAfter(*d, std::chrono::milliseconds(1000));
}

bool DatabaseAnswers(const std::shared_ptr<Bus>& bus, Bus::State& state) {
    if (!state.pool) return true;
    auto ping = asio::co_spawn(bus->Executor(), state.pool->Ping(), asio::use_future);
    return ping.wait_for(std::chrono::seconds(10)) == std::future_status::ready && ping.get();
}

// After a transient failure: no fetching (which would only fail again and burn
// deliveries) until the database answers, probed with backoff.
void PauseUntilAvailable(const std::shared_ptr<Bus>& bus, Bus::State& state, Subscription& sub,
                         int worker) {
    sub.paused->Add(1);
    log::Warn("consumer paused until the database answers",
              {{"consumer", sub.durable}, {"worker", static_cast<std::int64_t>(worker)}});
    const auto cap = std::min(sub.options.backoff_max, std::chrono::milliseconds(5000));
    auto wait = std::clamp(sub.options.backoff_base, std::chrono::milliseconds(50), cap);
    while (!state.stopping) {
        const auto until = std::chrono::steady_clock::now() + wait;
        while (!state.stopping && std::chrono::steady_clock::now() < until)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (state.stopping || DatabaseAnswers(bus, state)) break;
        wait = std::min(wait * 2, cap);
    }
    sub.paused->Add(-1);
    log::Info("consumer resumed",
              {{"consumer", sub.durable}, {"worker", static_cast<std::int64_t>(worker)}});
}

// Consumers created by older versions have a MaxDeliver: when JetStream gives up on a
// message it only says so in an advisory, which is turned into a dead letter here.
struct AdvisoryListener {
    Bus::State* state = nullptr;
    std::shared_ptr<Subscription> sub;
    std::promise<void> closed;
    natsSubscription* subscription = nullptr;
};

void DeadLetterFromAdvisory(Bus::State& state, const Subscription& sub, std::string_view data) {
    std::uint64_t seq = 0;
    std::uint64_t deliveries = 0;
    try {
        const auto advisory = json::parse(data).as_object();
        seq = advisory.at("stream_seq").to_number<std::uint64_t>();
        deliveries = advisory.at("deliveries").to_number<std::uint64_t>();
    } catch (const std::exception&) {
        log::Warn("unreadable max-deliveries advisory", {{"consumer", sub.durable}});
        return;
    }
    natsMsg* raw = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    const natsStatus s = js_GetMsg(&raw, state.nats->Js(), sub.stream.c_str(), seq, nullptr, &jerr);
    if (s != NATS_OK) {
        log::Error("message given up by JetStream is gone; not dead-lettered",
                   {{"consumer", sub.durable},
                    {"stream_seq", static_cast<std::int64_t>(seq)},
                    {"error", natsStatus_GetText(s)}});
        return;
    }
    MsgPtr msg(raw);
    try {
        PublishDeadLetter(*state.nats, sub, msg.get(), seq, deliveries,
                          "JetStream stopped delivering it after " + std::to_string(deliveries) +
                              " deliveries (consumer MaxDeliver)",
                          "dlq-" + sub.durable + "-" + std::to_string(seq));
    } catch (const std::exception& e) {
        log::Error("dead letter publish failed for a message JetStream gave up",
                   {{"consumer", sub.durable},
                    {"stream_seq", static_cast<std::int64_t>(seq)},
                    {"error", e.what()}});
        return;
    }
    sub.dead_letters->Inc();
    log::Warn("message dead-lettered from a max-deliveries advisory",
              {{"consumer", sub.durable}, {"stream_seq", static_cast<std::int64_t>(seq)}});
}

void OnMaxDeliveries(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    MsgPtr owned(msg);
    auto& listener = *static_cast<AdvisoryListener*>(closure);
    DeadLetterFromAdvisory(*listener.state, *listener.sub, DataOf(msg));
}

void OnAdvisoriesClosed(void* closure) {
    static_cast<AdvisoryListener*>(closure)->closed.set_value();
}

// One listener per consumer and instance (worker 0's); a queue group so that one
// instance of the service handles each advisory.
std::unique_ptr<AdvisoryListener> ListenForMaxDeliveries(Bus::State& state,
                                                         const std::shared_ptr<Subscription>& sub) {
    auto listener = std::make_unique<AdvisoryListener>();
    listener->state = &state;
    listener->sub = sub;
    const std::string subject =
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + sub->stream + "." + sub->durable;
    natsStatus s = natsConnection_QueueSubscribe(&listener->subscription, state.nats->Connection(),
                                                 subject.c_str(), sub->durable.c_str(),
                                                 OnMaxDeliveries, listener.get());
    if (s == NATS_OK)
        s = natsSubscription_SetOnCompleteCB(listener->subscription, OnAdvisoriesClosed,
                                             listener.get());
    if (s != NATS_OK) {
        log::Warn("cannot listen for max-deliveries advisories",
                  {{"consumer", sub->durable}, {"error", natsStatus_GetText(s)}});
        if (listener->subscription != nullptr) natsSubscription_Destroy(listener->subscription);
        return nullptr;
    }
    return listener;
}

void StopListening(std::unique_ptr<AdvisoryListener> listener) {
    if (!listener) return;
    auto closed = listener->closed.get_future();
    natsSubscription_Unsubscribe(listener->subscription);
    const bool done = closed.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
    natsSubscription_Destroy(listener->subscription);
    if (!done) (void)listener.release();  // a callback may still run: leak rather than free
}

// A worker thread's body; its arguments are the thread's own copies.
void WorkerLoop(const std::shared_ptr<Bus>& bus, Bus::State& state,
                const std::shared_ptr<Subscription>& sub, int worker) {
    natsSubscription* subscription = BindConsumer(state, *sub);
    std::unique_ptr<AdvisoryListener> advisories;
    if (worker == 0 && subscription != nullptr) advisories = ListenForMaxDeliveries(state, sub);
    int errors = 0;
    while (!state.stopping) {
        natsMsgList list{};
        jsErrCode jerr = static_cast<jsErrCode>(0);
        // Fetch waits up to 1 s for the first message; JetStream answers with what it has.
        const natsStatus s =
            natsSubscription_Fetch(&list, subscription, sub->options.batch, 1000, &jerr);
        if (s == NATS_TIMEOUT) continue;
        // A consumer deleted and declared again (bus.cpp, CheckDeclarations) is fetched
        // from by the same subscription: the fetch requests go to it by name. No re-bind.
        if (s != NATS_OK) {
            if (errors++ % 20 == 0)
                log::Warn("fetch failed", {{"consumer", sub->durable},
                                           {"worker", static_cast<std::int64_t>(worker)},
                                           {"error", natsStatus_GetText(s)}});
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
            continue;
        }
        errors = 0;
        auto batch = NewBatch(bus, state, sub, list);  // owns the messages now
        RunBatch(batch);
        const bool transient = batch->transient;
        batch.reset();
        if (transient) PauseUntilAvailable(bus, state, *sub, worker);
    }
    StopListening(std::move(advisories));
    if (subscription != nullptr)
        natsSubscription_Destroy(subscription);  // no unsubscribe: keep the consumer
}

}  // namespace

void StartWorkers(const std::shared_ptr<Bus>& bus, Bus::State& state,
                  const std::shared_ptr<Subscription>& sub) {
    for (int i = 0; i < sub->options.workers; ++i)
        state.workers.emplace_back(WorkerLoop, bus, std::ref(state), sub, i);
}

}  // namespace keel::bus
