// Durable pull consumers. Each worker is a thread that fetches a batch (libnats's
// fetch blocks) and hands it to the io threads, where it is decoded and handled in
// one transaction with the inbox; while that runs long, the worker tells JetStream
// the messages are in progress so they are not redelivered meanwhile.
#include <boost/json/serialize.hpp>

#include <nats/nats.h>

#include <future>
#include <set>

#include <keel/core/log.hpp>
#include <keel/core/offload.hpp>
#include <keel/core/uuid.hpp>

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
    e.event_id = GetHeader(d.msg, header::kEventId);
    if (!Uuid::Parse(e.event_id))
        throw DecodeError("missing or malformed " + std::string(header::kEventId));
    e.correlation_id = GetHeader(d.msg, header::kCorrelationId);
    if (e.correlation_id.empty()) e.correlation_id = e.event_id;
    e.causation_id = GetHeader(d.msg, header::kCausationId);
    e.fingerprint = GetHeader(d.msg, header::kFingerprint);
    e.traceparent = GetHeader(d.msg, header::kTraceparent);
    const auto produced = GetHeader(d.msg, header::kProducedAt);
    e.produced_at_us = produced.empty() ? 0 : std::strtoll(produced.c_str(), nullptr, 10);
    try {
        e.trail = TrailFromJson(GetHeader(d.msg, header::kTrail));
    } catch (const std::invalid_argument& ex) {
        throw DecodeError(ex.what());
    }
    const auto& codec = bus.GetCodec();
    if (!e.fingerprint.empty() && codec.Has(e.topic) && e.fingerprint != codec.Fingerprint(e.topic))
        throw DecodeError("written with schema fingerprint " + e.fingerprint +
                          ", this consumer reads " + codec.Fingerprint(e.topic));
    event.payload = codec.Decode(e.topic, DataOf(d.msg));
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

struct Batch {
    std::shared_ptr<Bus> bus;
    Bus::State* state = nullptr;  // the bus's, alive as long as `bus`
    std::shared_ptr<Subscription> sub;
    std::vector<std::unique_ptr<Delivery>> deliveries;
};

void RecordHop(Bus& bus, const Subscription& sub, const Event& event, const char* outcome) {
    const auto now = NowMicros();
    sub.handler_seconds->Observe(static_cast<double>(now - event.next.hop.start_us) / 1e6);
    if (!bus.Settings().record_trail) return;
    Hop hop = event.next.hop;
    hop.duration_us = now - hop.start_us;
    hop.tags.emplace_back("outcome", outcome);
    std::string record = "{\"kind\":\"consume\",\"event_id\":\"" + event.envelope.event_id +
                         "\",\"topic\":\"" + event.envelope.topic + "\",\"correlation_id\":";
    keel::json::AppendQuoted(record, event.envelope.correlation_id);
    record += ",\"causation_id\":";
    keel::json::AppendQuoted(record, event.envelope.causation_id);
    record += ",\"hop\":" + HopToJson(hop) + "}";
    bus.Connection()->PublishNoWait("trail." + SubjectToken(event.envelope.correlation_id), record);
}

// Copies the message to dlq.<topic> with the reason. Blocking: run on the bus pool.
void PublishDeadLetter(Nats& nats, const Subscription& sub, const Delivery& d,
                       const std::string& reason) {
    auto copy = NewMsg("dlq." + std::string(SubjectOf(d.msg)), DataOf(d.msg));
    for (const char* key :
         {header::kEventId, header::kCorrelationId, header::kCausationId, header::kFingerprint,
          header::kProducedAt, header::kTrail, header::kTraceparent}) {
        const auto value = GetHeader(d.msg, key);
        if (!value.empty()) SetHeader(copy.get(), key, value);
    }
    SetHeader(copy.get(), header::kDlqConsumer, sub.durable);
    SetHeader(copy.get(), header::kDlqError, HeaderSafe(reason));
    SetHeader(copy.get(), header::kDlqDeliveries, std::to_string(d.deliveries));
    SetHeader(copy.get(), header::kDlqStreamSeq, std::to_string(d.stream_sequence));
    nats.Publish(copy.get());
}

Task<void> DeadLetter(Batch& batch, Delivery& d, const std::string& reason) {
    auto& state = *batch.state;
    try {
        auto publish = [&] {
            PublishDeadLetter(*state.nats, *batch.sub, d, reason);
            return 0;
        };
        co_await Offload(state.blocking.get_executor(), publish);
    } catch (const std::exception& e) {
        log::Error("dead letter publish failed; message will be redelivered",
                   {{"consumer", batch.sub->durable}, {"error", e.what()}});
        d.settled = true;
        natsMsg_NakWithDelay(d.msg, 1000, nullptr);
        co_return;
    }
    log::Warn("message dead-lettered",
              {{"consumer", batch.sub->durable},
               {"stream_seq", static_cast<std::int64_t>(d.stream_sequence)},
               {"error", reason}});
    batch.sub->dead_letters->Inc();
    d.settled = true;
    natsMsg_Term(d.msg, nullptr);
}

// A handler failed on `d`: redeliver later, or dead-letter on the last try.
Task<void> Failed(Batch& batch, Delivery& d, const std::string& reason) {
    const auto& options = batch.sub->options;
    if (d.deliveries >= static_cast<std::uint64_t>(options.max_deliver)) {
        co_await DeadLetter(batch, d, reason);
        co_return;
    }
    log::Warn("handler failed; redelivering later",
              {{"consumer", batch.sub->durable},
               {"delivery", static_cast<std::int64_t>(d.deliveries)},
               {"error", reason}});
    auto delay = options.backoff_base * (1LL << std::min<std::uint64_t>(d.deliveries - 1, 20));
    if (delay > options.backoff_max) delay = options.backoff_max;
    batch.sub->retried->Inc();
    d.settled = true;
    natsMsg_NakWithDelay(d.msg, delay.count(), nullptr);
}

// Runs the handler for `events` in one transaction with their inbox rows. Returns
// "" on success, else the error.
Task<std::string> RunInTransaction(Batch& batch, std::span<const Event> events,
                                   std::size_t* duplicates) {
    auto& sub = *batch.sub;
    std::string error;
    *duplicates = 0;
    try {
        if (sub.plain) {
            co_await sub.plain(events);
            co_return error;
        }
        std::string ids = "{";
        for (const auto& e : events) {
            if (ids.size() > 1) ids += ",";
            ids += e.envelope.event_id;
        }
        ids += "}";
        auto body = [&](pg::Connection& c) -> Task<void> {
            auto fresh = co_await c.Execute(
                "INSERT INTO bus_inbox (consumer, event_id) SELECT $1, unnest($2::uuid[]) "
                "ON CONFLICT DO NOTHING RETURNING event_id::text",
                sub.durable, ids);
            if (static_cast<std::size_t>(fresh.Rows()) == events.size()) {
                co_await sub.batch(c, events);
                co_return;
            }
            std::set<std::string, std::less<>> todo;
            for (int i = 0; i < fresh.Rows(); ++i) todo.emplace(fresh.Text(i, 0));
            std::vector<Event> some;
            for (const auto& e : events)
                if (todo.erase(e.envelope.event_id) > 0) some.push_back(e);
            *duplicates = events.size() - some.size();
            if (!some.empty()) co_await sub.batch(c, some);
        };
        co_await batch.bus->Transaction(body);
    } catch (const std::exception& e) {
        error = e.what();
        if (error.empty()) error = "handler failed";
    }
    co_return error;
}

Task<void> HandleBatch(std::shared_ptr<Batch> batch) {
    auto& bus = *batch->bus;
    auto& sub = *batch->sub;
    std::vector<Event> events;
    std::vector<Delivery*> owners;
    events.reserve(batch->deliveries.size());
    for (auto& d : batch->deliveries) {
        if (d->deliveries > 1) sub.redeliveries->Inc();
        std::string undecodable;
        try {
            events.push_back(DecodeEvent(bus, sub, *d));
            owners.push_back(d.get());
        } catch (const std::exception& e) {
            undecodable = std::string("cannot decode: ") + e.what();
        }
        if (!undecodable.empty()) co_await DeadLetter(*batch, *d, undecodable);
    }
    if (events.empty()) co_return;
    auto settle_ok = [&](std::size_t i, const char* outcome) {
        owners[i]->settled = true;
        natsMsg_Ack(owners[i]->msg, nullptr);
        RecordHop(bus, sub, events[i], outcome);
    };
    std::size_t duplicates = 0;
    const std::string error = co_await RunInTransaction(*batch, events, &duplicates);
    if (error.empty()) {
        for (std::size_t i = 0; i < events.size(); ++i) settle_ok(i, "processed");
        sub.processed->Inc(events.size() - duplicates);
        sub.duplicates->Inc(duplicates);
        co_return;
    }
    // One event per transaction, so that only the failing one is redelivered.
    for (std::size_t i = 0; i < events.size(); ++i) {
        // (No co_await inside ?: here: GCC 12 miscompiles it.)
        std::string one_error = error;
        if (events.size() > 1) {
            const std::span<const Event> one(&events[i], 1);
            one_error = co_await RunInTransaction(*batch, one, &duplicates);
        }
        if (one_error.empty()) {
            settle_ok(i, duplicates > 0 ? "duplicate" : "processed");
            (duplicates > 0 ? sub.duplicates : sub.processed)->Inc();
        } else {
            RecordHop(bus, sub, events[i], "failed");
            co_await Failed(*batch, *owners[i], one_error);
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
                                const std::shared_ptr<Subscription>& sub, const natsMsgList& list) {
    auto batch = std::make_shared<Batch>();
    batch->bus = bus;
    batch->state = &state;
    batch->sub = sub;
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

// Hands the batch to the io threads and, while it runs, tells JetStream every third of
// ack_wait that its messages are still in progress. Returns when the batch is settled.
void RunBatch(const std::shared_ptr<Batch>& batch) {
    const auto& sub = batch->sub;
    const auto progress_every = std::max(sub->options.ack_wait / 3, std::chrono::milliseconds(100));
    std::promise<void> done;
    auto finished = done.get_future();
    asio::co_spawn(batch->bus->Executor(), HandleBatch(batch),
                   [&done, sub](const std::exception_ptr& e) {
                       if (e) {
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                               log::Error("batch handling failed",
                                          {{"consumer", sub->durable}, {"error", ex.what()}});
                           }
                       }
                       done.set_value();
                   });
    while (finished.wait_for(progress_every) == std::future_status::timeout)
        for (auto& d : batch->deliveries)
            if (!d->settled) natsMsg_InProgress(d->msg, nullptr);
    // Anything the handler left unsettled (an exception escaped) comes back later.
    for (auto& d : batch->deliveries)
        if (!d->settled) natsMsg_NakWithDelay(d->msg, 1000, nullptr);
    batch->deliveries.clear();
}

// A worker thread's body; its arguments are the thread's own copies.
void WorkerLoop(const std::shared_ptr<Bus>& bus, Bus::State& state,
                const std::shared_ptr<Subscription>& sub, int worker) {
    natsSubscription* subscription = BindConsumer(state, *sub);
    int errors = 0;
    while (!state.stopping) {
        natsMsgList list{};
        jsErrCode jerr = static_cast<jsErrCode>(0);
        // Fetch waits up to 1 s for the first message; JetStream answers with what it has.
        const natsStatus s =
            natsSubscription_Fetch(&list, subscription, sub->options.batch, 1000, &jerr);
        if (s == NATS_TIMEOUT) continue;
        if (s != NATS_OK) {
            if (errors++ % 20 == 0)
                log::Warn("fetch failed", {{"consumer", sub->durable},
                                           {"worker", static_cast<std::int64_t>(worker)},
                                           {"error", natsStatus_GetText(s)}});
            std::this_thread::sleep_for(std::chrono::milliseconds(250));
            continue;
        }
        errors = 0;
        RunBatch(NewBatch(bus, state, sub, list));
        natsMsgList_Destroy(&list);
    }
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
