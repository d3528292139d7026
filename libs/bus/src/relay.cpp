// The outbox relay: publishes committed outbox rows in sequence order, each with
// Nats-Msg-Id = event id so that JetStream drops a copy sent again within its
// duplicate window (consumers' inboxes drop later ones).
//
// Ownership is a lease, not a lock held across the network: one row in
// bus_relay_lease names the instance that relays and until when (database time). It is
// taken or renewed by one short statement; no transaction stays open while a batch is
// published (which can take the whole 10 s acknowledgement wait). The holder renews it
// every third of its length while it runs; an instance that freezes (SIGSTOP, a stalled
// VM, a cut network) stops renewing and another takes over once the lease has expired
// (BUS_RELAY_LEASE_MS, 5 s, plus at most one poll). Each instance also remembers, on its
// own monotonic clock, until when its lease surely holds (the time it *sent* the
// statement plus the lease length: the database can only have set a later expiry) and
// checks it before every message; an instance resumed after a freeze therefore sees that
// its lease ran out and publishes nothing more until it wins the lease again.
//
// What order remains: while one instance holds the lease, rows go out in seq order
// (async publishes on one connection keep their order), except that a row whose
// transaction commits after a higher seq was published goes after it, and parked rows
// are overtaken. At a takeover the new holder starts from the lowest unpublished seq, so
// what the old holder sent but had not marked is sent again (dropped as duplicates);
// the one reordering a takeover can add is a frozen holder's last in-flight messages
// (already handed to its NATS client before the freeze) arriving after newer ones.
// Consumers must not rely on order across events (docs/events.md).
#include <boost/asio/redirect_error.hpp>
#include <boost/json/parse.hpp>

#include <nats/nats.h>

#include <mutex>
#include <optional>
#include <unordered_map>

#include <keel/core/log.hpp>
#include <keel/core/offload.hpp>
#include <keel/core/runtime.hpp>

#include "state.hpp"

namespace keel::bus {
namespace json = boost::json;

namespace {

constexpr int kBatch = 512;
// How long published rows may wait for the next pass to mark them when no commit
// wakes the relay sooner.
constexpr std::chrono::milliseconds kMarkDelay{20};
// The poll interval while passes find rows (see RelayLoop).
constexpr std::chrono::milliseconds kBusyPoll{5};

struct Row {
    std::int64_t seq = 0;
    std::string event_id;
    std::string topic;
    std::string headers;
    std::string payload;
};

struct Parked {
    std::int64_t seq = 0;
    std::string error;
};

// What became of a batch. `retry` non-empty: a transient failure, nothing is marked
// published and the batch is sent again (parked rows are parked all the same).
struct BatchOutcome {
    std::vector<std::int64_t> published;
    std::vector<Parked> parked;
    std::string retry;
    bool lease_lost = false;
};

std::string FromHex(std::string_view text) {
    if (text.substr(0, 2) == "\\x") text.remove_prefix(2);
    auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    std::string out(text.size() / 2, '\0');
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<char>(nibble(text[2 * i]) << 4 | nibble(text[2 * i + 1]));
    return out;
}

std::int64_t SteadyNow() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// True while this instance's lease surely holds for `margin` more.
bool HoldsLease(const Bus::State& state, std::chrono::milliseconds margin) {
    return SteadyNow() + std::chrono::nanoseconds(margin).count() < state.lease_until.load();
}

// Permanent or transient: only a failure that names this one row and that no retry can
// change parks it. That is the message being larger than the server's max_payload
// (NATS_MAX_PAYLOAD, checked by the client against the size the server announced), a
// subject NATS refuses (NATS_INVALID_SUBJECT), headers in the row that are not a JSON
// object of strings, and JetStream refusing the message for its size (10054, the
// stream's max_msg_size). Everything else says something about the path, not the row,
// and is retried with the whole batch: timeouts, no responders (no stream yet, no
// JetStream leader), a closed or reconnecting connection, a stalled publish, storage or
// resource errors, and any error we do not know. Erring towards "transient" means an
// outage never parks good rows; an unknown permanent error blocks the relay, visible in
// keel_bus_outbox_publish_errors_total and the log, as every error did before parking.
bool IsPermanent(natsStatus status) {
    return status == NATS_MAX_PAYLOAD || status == NATS_INVALID_SUBJECT;
}
bool IsPermanentAck(natsStatus status, int code) {
    return status == NATS_ERR && code == JSStreamMessageExceedsMaximumErr;
}

struct AsyncErrors {
    std::mutex mutex;
    int transient = 0;
    std::string first;
    std::unordered_map<std::string, std::string> parked;  // event id -> error
};

void OnPublishError(jsCtx*, jsPubAckErr* error, void* closure) {
    auto* errors = static_cast<AsyncErrors*>(closure);
    std::string text = error->ErrText != nullptr ? error->ErrText : natsStatus_GetText(error->Err);
    std::lock_guard lock(errors->mutex);
    if (IsPermanentAck(error->Err, error->ErrCode) && error->Msg != nullptr) {
        const char* id = nullptr;
        if (natsMsgHeader_Get(error->Msg, "Nats-Msg-Id", &id) == NATS_OK && id != nullptr) {
            errors->parked[id] = "JetStream refused it: " + text;
            return;
        }
    }
    if (errors->transient++ == 0) errors->first = std::move(text);
}

// The row's message; throws for headers that are not a JSON object of strings.
MsgPtr BuildMessage(const Row& row, std::string& trail_record, std::string& correlation) {
    auto msg = NewMsg(row.topic, row.payload);
    const auto headers = json::parse(row.headers);
    for (const auto& kv : headers.as_object()) {
        std::string value(kv.value().as_string());
        if (kv.key() == "_trail_record") {
            trail_record = std::move(value);
            continue;
        }
        if (kv.key() == header::kCorrelationId) correlation = value;
        SetHeader(msg.get(), std::string(kv.key()).c_str(), value);
    }
    return msg;
}

// Publishes the rows asynchronously and waits for every acknowledgement. Blocking: runs
// on the bus's own threads. Stops sending when the lease no longer surely holds.
BatchOutcome PublishRows(Nats& nats, const Bus::State& state, const std::vector<Row>& rows,
                         bool record_trail, std::chrono::milliseconds margin) {
    BatchOutcome outcome;
    AsyncErrors errors;
    jsOptions options;
    jsOptions_Init(&options);
    options.Wait = 10'000;
    options.PublishAsync.ErrHandler = OnPublishError;
    options.PublishAsync.ErrHandlerClosure = &errors;
    options.PublishAsync.MaxPending = 4096;
    jsCtx* js = nullptr;
    if (natsConnection_JetStream(&js, nats.Connection(), &options) != NATS_OK)
        throw NatsError("JetStream context for the relay");
    std::unique_ptr<jsCtx, void (*)(jsCtx*)> owned(js, jsCtx_Destroy);
    std::vector<const Row*> sent;
    for (const auto& row : rows) {
        if (!HoldsLease(state, margin)) {
            outcome.lease_lost = true;
            break;
        }
        std::string trail_record, correlation;
        MsgPtr msg;
        try {
            msg = BuildMessage(row, trail_record, correlation);
        } catch (const std::exception& e) {
            outcome.parked.push_back({row.seq, std::string("malformed headers: ") + e.what()});
            continue;
        }
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = row.event_id.c_str();
        natsMsg* raw = msg.release();
        const natsStatus s = js_PublishMsgAsync(js, &raw, &po);
        if (raw != nullptr) natsMsg_Destroy(raw);  // not taken on failure
        if (s != NATS_OK) {
            const std::string text = natsStatus_GetText(s);
            if (IsPermanent(s)) {
                outcome.parked.push_back(
                    {row.seq, text + " (" + std::to_string(row.payload.size()) + " bytes)"});
                continue;
            }
            outcome.retry = "relay publish: " + text;
            break;  // what was sent is still waited for below
        }
        sent.push_back(&row);
        if (record_trail && !trail_record.empty())
            nats.PublishNoWait("trail." + SubjectToken(correlation), trail_record);
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 10'000;
    const natsStatus s = js_PublishAsyncComplete(js, &wait);
    if (s != NATS_OK && outcome.retry.empty())
        outcome.retry = std::string("relay: acknowledgements missing: ") + natsStatus_GetText(s);
    std::lock_guard lock(errors.mutex);
    if (errors.transient > 0 && outcome.retry.empty())
        outcome.retry =
            "relay: " + std::to_string(errors.transient) + " publishes failed: " + errors.first;
    for (const Row* row : sent) {
        const auto parked = errors.parked.find(row->event_id);
        if (parked != errors.parked.end())
            outcome.parked.push_back({row->seq, parked->second});
        else
            outcome.published.push_back(row->seq);
    }
    return outcome;
}

// Takes the lease if it is free or expired, renews it if it is ours; no row back means
// another instance holds it. Database time only, so instances' clocks do not matter.
constexpr std::string_view kTakeLeaseSql =
    "INSERT INTO bus_relay_lease AS l (name, holder, expires_at, acquired_at) "
    "VALUES ('outbox', $1, clock_timestamp() + make_interval(secs => $2::float8 / 1000), "
    "clock_timestamp()) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, "
    "acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at "
    "ELSE excluded.acquired_at END "
    "WHERE l.holder = excluded.holder OR l.expires_at < clock_timestamp() "
    "RETURNING holder";

// Renews or takes the lease; true when this instance holds it afterwards.
Task<bool> TakeLease(Bus& bus, Bus::State& state, pg::Pool& pool) {
    const auto sent = SteadyNow();
    const auto lease = bus.Settings().relay_lease;
    bool held = false;
    bool answered = false;
    try {
        auto result = co_await pool.Execute(kTakeLeaseSql, bus.Settings().instance_id,
                                            static_cast<std::int64_t>(lease.count()));
        held = result.Rows() == 1;
        answered = true;
    } catch (const std::exception& e) {
        // PostgreSQL away: what we held runs out by itself (lease_until).
        log::Debug("relay lease not renewed", {{"error", e.what()}});
    }
    if (held)
        state.lease_until = sent + std::chrono::nanoseconds(lease).count();
    else if (answered)
        state.lease_until = 0;  // another instance holds it
    state.relay_leader->Set(HoldsLease(state, std::chrono::milliseconds(0)) ? 1 : 0);
    co_return held;
}

constexpr std::string_view kUnpublishedSql =
    "SELECT seq, event_id::text, topic, headers, payload FROM bus_outbox "
    "WHERE published_at IS NULL AND parked_at IS NULL ORDER BY seq LIMIT $1";
// The same, marking what the previous pass published in the same statement (one round
// trip per pass instead of two). Both parts read one snapshot, so the rows being marked
// are left out of the answer by their seq.
constexpr std::string_view kMarkAndReadSql =
    "WITH marked AS (UPDATE bus_outbox SET published_at = clock_timestamp() "
    "WHERE seq = ANY($2::bigint[]) AND published_at IS NULL) "
    "SELECT seq, event_id::text, topic, headers, payload FROM bus_outbox "
    "WHERE published_at IS NULL AND parked_at IS NULL AND seq <> ALL($2::bigint[]) "
    "ORDER BY seq LIMIT $1";

std::string SeqArray(const std::vector<std::int64_t>& seqs);

Task<std::vector<Row>> ReadRows(Bus::State& state, pg::Pool& pool) {
    pg::Result result;
    if (state.unmarked.empty()) {
        result = co_await pool.Execute(kUnpublishedSql, kBatch);
    } else {
        result = co_await pool.Execute(kMarkAndReadSql, kBatch, SeqArray(state.unmarked));
        state.unmarked.clear();
    }
    std::vector<Row> rows;
    rows.reserve(static_cast<std::size_t>(result.Rows()));
    for (int i = 0; i < result.Rows(); ++i) {
        Row row;
        row.seq = result.Int(i, 0);
        row.event_id = std::string(result.Text(i, 1));
        row.topic = std::string(result.Text(i, 2));
        row.headers = std::string(result.Text(i, 3));
        row.payload = FromHex(result.Text(i, 4));
        rows.push_back(std::move(row));
    }
    co_return rows;
}

std::string SeqArray(const std::vector<std::int64_t>& seqs) {
    std::string text = "{";
    for (const auto seq : seqs) {
        if (text.size() > 1) text += ",";
        text += std::to_string(seq);
    }
    return text + "}";
}

// One statement each, after the acknowledgements: short transactions, no lock held
// across the network.
constexpr std::string_view kMarkPublishedSql =
    "UPDATE bus_outbox SET published_at = clock_timestamp() WHERE seq = ANY($1::bigint[]) "
    "AND published_at IS NULL";
constexpr std::string_view kParkSql =
    "UPDATE bus_outbox SET parked_at = clock_timestamp(), park_error = $2 "
    "WHERE seq = $1 AND published_at IS NULL";

// Published rows are marked by the next pass's read (kMarkAndReadSql), which under load
// comes within milliseconds and when idle after kMarkDelay; until then they count as
// unpublished, and an instance taking the relay over meanwhile sends them again
// (JetStream drops the copies, as for any takeover).
Task<void> Record(Bus::State& state, pg::Pool& pool, const BatchOutcome& outcome) {
    for (const auto& parked : outcome.parked) {
        co_await pool.Execute(kParkSql, parked.seq, parked.error);
        state.parked_total->Inc();
        log::Error("outbox event parked: it can never be published as it is",
                   {{"seq", parked.seq}, {"error", parked.error}});
    }
    if (outcome.retry.empty())
        state.unmarked.insert(state.unmarked.end(), outcome.published.begin(),
                              outcome.published.end());
}

// Clears relay_busy when the pass ends, however it ends.
struct BusyGuard {
    std::atomic<bool>& flag;
    ~BusyGuard() { flag = false; }
};

}  // namespace

// Marks what was published and not marked yet, on its own (the relay stops, or lost
// the lease: what it published is published all the same).
Task<void> MarkPublished(Bus::State& state, pg::Pool& pool) {
    if (state.unmarked.empty()) co_return;
    co_await pool.Execute(kMarkPublishedSql, SeqArray(state.unmarked));
    state.unmarked.clear();
}

Task<int> RelayOnce(Bus& bus, Bus::State& state, pg::Pool& pool) {
    if (state.relay_busy.exchange(true)) co_return 0;  // a pass of this instance is running
    BusyGuard guard{state.relay_busy};
    const auto lease = bus.Settings().relay_lease;
    const auto margin = lease / 5;
    if (!HoldsLease(state, lease * 2 / 3)) {  // a third of it gone: renew (or take it)
        // Another instance held it when last asked: ask again once a poll interval has
        // passed, not at every commit of this instance (each one wakes the relay), which
        // was a locking statement per commit. A takeover still comes within the lease
        // plus one poll.
        if (state.lease_until.load() == 0 && SteadyNow() < state.lease_retry_at.load())
            co_return -1;
        if (!co_await TakeLease(bus, state, pool)) {
            state.lease_retry_at =
                SteadyNow() + std::chrono::nanoseconds(bus.Settings().relay_poll).count();
            co_await MarkPublished(state, pool);
            co_return -1;
        }
    }
    auto rows = co_await ReadRows(state, pool);
    if (rows.empty()) co_return 0;
    const bool record_trail = bus.Settings().record_trail;
    auto publish = [&state, &rows, record_trail, margin] {
        return PublishRows(*state.nats, state, rows, record_trail, margin);
    };
    auto outcome = co_await Offload(state.blocking.get_executor(), std::move(publish));
    co_await Record(state, pool, outcome);
    const auto published = static_cast<int>(outcome.published.size());
    if (!outcome.retry.empty()) throw NatsError(outcome.retry);
    if (published > 0) state.relayed->Inc(static_cast<std::uint64_t>(published));
    if (outcome.lease_lost) co_return -1;
    // A full batch (or parked rows) means there may be more: the caller goes on.
    co_return published + static_cast<int>(outcome.parked.size());
}

constexpr std::string_view kReleaseLeaseSql =
    "UPDATE bus_relay_lease SET expires_at = clock_timestamp() "
    "WHERE name = 'outbox' AND holder = $1";

Task<void> ReleaseRelayLease(Bus& bus, Bus::State& state, pg::Pool& pool) {
    // The last pass's rows are marked before another instance may take over.
    if (!state.relay_busy.exchange(true)) {
        BusyGuard guard{state.relay_busy};
        co_await MarkPublished(state, pool);
    }
    if (state.lease_until.load() == 0) co_return;
    state.lease_until = 0;
    state.relay_leader->Set(0);
    co_await pool.Execute(kReleaseLeaseSql, bus.Settings().instance_id);
}

namespace {

// Sleeps on the strand until woken by a commit or the poll interval (longer after
// failures) has passed.
// `busy`: how long to wait while passes keep finding rows (see RelayLoop).
Task<void> WaitForWork(Bus& bus, Bus::State& state, int failures, std::chrono::milliseconds busy) {
    co_await asio::post(state.strand, asio::use_awaitable);  // the timer lives on the strand
    if (state.relay_wake.exchange(false)) co_return;
    const auto poll = bus.Settings().relay_poll;
    auto idle = failures > 0
                    ? std::min(poll * (1 << std::min(failures, 5)), std::chrono::milliseconds(5000))
                    : std::min(poll, busy);
    if (!state.unmarked.empty()) idle = std::min(idle, kMarkDelay);
    state.relay_timer.expires_after(idle);
    boost::system::error_code ec;
    co_await state.relay_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    state.relay_wake = false;
}

// Publishes batches until the outbox is drained or another instance holds the lease
// (then the next poll tries to take it again).
// Returns the rows published (or parked).
Task<int> RelayAll(Bus& bus, Bus::State& state, pg::Pool& pool) {
    int total = 0;
    for (;;) {
        const int n = co_await RelayOnce(bus, state, pool);
        if (n > 0) total += n;
        // Stopping: Bus::Stop makes the last pass and releases the lease; another full
        // pass here could take the lease back after that and hold it until it expires.
        if (n < kBatch || state.stopping) co_return total;
    }
}

// Keeps the lease while a long batch is being published (RelayOnce renews it between
// batches too). Ends soon after `stopping`; Bus::Stop releases the lease after the last
// pass.
Task<void> KeepLease(std::shared_ptr<Bus> bus, Bus::State& state, std::shared_ptr<pg::Pool> pool) {
    ++state.relay_loops;
    const auto lease = bus->Settings().relay_lease;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!state.stopping) {
        if (state.relay_busy && HoldsLease(state, std::chrono::milliseconds(0)) &&
            !HoldsLease(state, lease * 2 / 3))
            co_await TakeLease(*bus, state, *pool);
        timer.expires_after(std::min(lease / 6, std::chrono::milliseconds(100)));
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    --state.relay_loops;
}

// Published rows stay a day: after a crash of JetStream nodes (2.9.10 fsyncs once a
// minute) `keel-bus outbox republish` can send them again (Nats-Msg-Id dedupes what did
// survive). Inbox rows outlive the stream retention so that replays stay no-ops.
constexpr std::string_view kDeletePublishedSql =
    "DELETE FROM bus_outbox WHERE published_at < now() - interval '1 day'";
constexpr std::string_view kDeleteInboxSql =
    "DELETE FROM bus_inbox WHERE processed_at < now() - make_interval(secs => $1)";

Task<void> CleanUp(Bus& bus, pg::Pool& pool) {
    co_await pool.Execute(kDeletePublishedSql);
    co_await pool.Execute(kDeleteInboxSql,
                          static_cast<std::int64_t>(bus.Settings().retention.count() + 86400));
}

}  // namespace

Task<void> RelayLoop(std::shared_ptr<Bus> bus, Bus::State& state, std::shared_ptr<pg::Pool> pool) {
    ++state.relay_loops;
    Spawn(state.strand, KeepLease(bus, state, pool), "outbox relay lease");
    auto last_cleanup = std::chrono::steady_clock::now() - std::chrono::hours(1);
    auto failures = 0;
    // Commits in this instance wake the relay at once; those of other instances of the
    // service (whose relays wait: one instance relays) are found by polling. While passes
    // find rows, the poll runs every kBusyPoll, then slows down by doubling to
    // BUS_RELAY_POLL_MS: under load another instance's events wait a few milliseconds
    // instead of up to a whole poll interval, and an idle relay costs what it did.
    auto busy = bus->Settings().relay_poll;
    while (!state.stopping) {
        co_await WaitForWork(*bus, state, failures, busy);
        if (state.stopping) break;  // Bus::Stop makes the last pass itself
        try {
            const int relayed = co_await RelayAll(*bus, state, *pool);
            busy = relayed > 0 ? kBusyPoll : std::min(busy * 2, bus->Settings().relay_poll);
            failures = 0;
            if (HoldsLease(state, std::chrono::milliseconds(0)) &&
                std::chrono::steady_clock::now() - last_cleanup > std::chrono::minutes(10)) {
                last_cleanup = std::chrono::steady_clock::now();
                co_await CleanUp(*bus, *pool);
            }
        } catch (const std::exception& e) {
            ++failures;
            state.relay_errors->Inc();
            log::Warn("outbox relay batch failed; retrying", {{"error", e.what()}});
        }
    }
    --state.relay_loops;
}

}  // namespace keel::bus
