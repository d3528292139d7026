// The outbox relay: publishes committed outbox rows in sequence order. One instance
// of a service relays at a time (a transaction-scoped advisory lock), and each
// message carries Nats-Msg-Id = event id, so a batch retried after a failure is
// deduplicated by JetStream instead of published twice.
#include <boost/asio/redirect_error.hpp>
#include <boost/json/parse.hpp>

#include <nats/nats.h>

#include <mutex>
#include <optional>

#include <keel/core/log.hpp>
#include <keel/core/offload.hpp>

#include "state.hpp"

namespace keel::bus {
namespace json = boost::json;

namespace {

constexpr int kBatch = 512;

struct Row {
    std::int64_t seq = 0;
    std::string event_id;
    std::string topic;
    std::string headers;
    std::string payload;
};

std::string FromHex(std::string_view text) {
    if (text.substr(0, 2) == "\\x") text.remove_prefix(2);
    auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
    std::string out(text.size() / 2, '\0');
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<char>(nibble(text[2 * i]) << 4 | nibble(text[2 * i + 1]));
    return out;
}

struct AsyncErrors {
    std::mutex mutex;
    int count = 0;
    std::string first;
};

void OnPublishError(jsCtx*, jsPubAckErr* error, void* closure) {
    auto* errors = static_cast<AsyncErrors*>(closure);
    std::lock_guard lock(errors->mutex);
    if (errors->count++ == 0)
        errors->first = error->ErrText != nullptr ? error->ErrText : natsStatus_GetText(error->Err);
}

// Publishes the rows asynchronously and waits for every acknowledgement. Throws
// if any is missing; the caller then rolls back and the whole batch is retried.
void PublishRows(Nats& nats, const std::vector<Row>& rows, bool record_trail) {
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
    for (const auto& row : rows) {
        auto msg = NewMsg(row.topic, row.payload);
        std::string trail_record, correlation;
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
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = row.event_id.c_str();
        natsMsg* raw = msg.release();
        const natsStatus s = js_PublishMsgAsync(js, &raw, &po);
        if (raw != nullptr) natsMsg_Destroy(raw);  // not taken on failure
        if (s != NATS_OK) throw NatsError(std::string("relay publish: ") + natsStatus_GetText(s));
        if (record_trail && !trail_record.empty())
            nats.PublishNoWait("trail." + SubjectToken(correlation), trail_record);
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 10'000;
    const natsStatus s = js_PublishAsyncComplete(js, &wait);
    if (s != NATS_OK)
        throw NatsError(std::string("relay: acknowledgements missing: ") + natsStatus_GetText(s));
    std::lock_guard lock(errors.mutex);
    if (errors.count > 0)
        throw NatsError("relay: " + std::to_string(errors.count) +
                        " publishes failed: " + errors.first);
}

constexpr std::string_view kRelayLockSql =
    "SELECT pg_try_advisory_xact_lock(hashtext('keel-bus-relay'))";
constexpr std::string_view kUnpublishedSql =
    "SELECT seq, event_id::text, topic, headers, payload FROM bus_outbox "
    "WHERE published_at IS NULL ORDER BY seq LIMIT $1";

// The next rows to publish in sequence order; nullopt when another instance relays.
Task<std::optional<std::vector<Row>>> ClaimRows(pg::Connection& c) {
    auto lock = co_await c.Execute(kRelayLockSql);
    if (!lock.Bool(0, 0)) co_return std::nullopt;
    auto result = co_await c.Execute(kUnpublishedSql, kBatch);
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

constexpr std::string_view kMarkPublishedSql =
    "UPDATE bus_outbox SET published_at = clock_timestamp() WHERE seq = ANY($1::bigint[])";

Task<void> MarkPublished(pg::Connection& c, const std::vector<Row>& rows) {
    std::string seqs = "{";
    for (const auto& row : rows) {
        if (seqs.size() > 1) seqs += ",";
        seqs += std::to_string(row.seq);
    }
    seqs += "}";
    co_await c.Execute(kMarkPublishedSql, seqs);
}

}  // namespace

Task<int> RelayOnce(Bus& bus, Bus::State& state, pg::Pool& pool) {
    int published = 0;
    bool busy = false;
    auto body = [&](pg::Connection& c) -> Task<void> {
        auto claimed = co_await ClaimRows(c);
        if (!claimed) {
            busy = true;
            co_return;
        }
        const auto& rows = *claimed;
        if (rows.empty()) co_return;
        auto publish = [&] {
            PublishRows(*state.nats, rows, bus.Settings().record_trail);
            return 0;
        };
        co_await Offload(state.blocking.get_executor(), std::move(publish));
        co_await MarkPublished(c, rows);
        published = static_cast<int>(rows.size());
    };
    co_await pool.Transaction(body);
    if (published > 0) state.relayed->Inc(static_cast<std::uint64_t>(published));
    co_return busy ? -1 : published;
}

namespace {

// Sleeps on the strand until woken by a commit or the poll interval (longer after
// failures) has passed.
Task<void> WaitForWork(Bus& bus, Bus::State& state, int failures) {
    co_await asio::post(state.strand, asio::use_awaitable);  // the timer lives on the strand
    if (state.relay_wake.exchange(false)) co_return;
    const auto poll = bus.Settings().relay_poll;
    const auto idle = failures > 0 ? std::min(poll * (1 << std::min(failures, 5)),
                                              std::chrono::milliseconds(5000))
                                   : poll;
    state.relay_timer.expires_after(idle);
    boost::system::error_code ec;
    co_await state.relay_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    state.relay_wake = false;
}

// Publishes batches until the outbox is drained or another instance holds the relay.
Task<void> RelayAll(Bus& bus, Bus::State& state, pg::Pool& pool) {
    for (;;) {
        const int n = co_await RelayOnce(bus, state, pool);
        if (n < 0) {  // another instance is relaying: look again soon
            state.relay_timer.expires_after(std::chrono::milliseconds(20));
            boost::system::error_code ec;
            co_await asio::post(state.strand, asio::use_awaitable);
            co_await state.relay_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            state.relay_wake = true;
            co_return;
        }
        if (n < kBatch) co_return;
    }
}

// Published rows stay a day: after a crash of every JetStream node they can be
// republished (Nats-Msg-Id dedupes what did survive). Inbox rows outlive the stream
// retention so that replays stay no-ops.
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
    auto last_cleanup = std::chrono::steady_clock::now() - std::chrono::hours(1);
    auto failures = 0;
    while (!state.stopping) {
        co_await WaitForWork(*bus, state, failures);
        if (state.stopping) break;
        try {
            co_await RelayAll(*bus, state, *pool);
            failures = 0;
            if (std::chrono::steady_clock::now() - last_cleanup > std::chrono::minutes(10)) {
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
