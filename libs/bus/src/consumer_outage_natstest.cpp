// Consumers against outages, hangs and poison, with a real nats-server and PostgreSQL:
// transient failures are retried for as long as they last and never dead-lettered;
// handler failures (and handlers that never finish) are, after max_deliver.
#include <keel/bus/bus.hpp>
#include <keel/bus/nats.hpp>

#include <nats/nats.h>

#include <boost/json/parse.hpp>

#include <atomic>

#include <keel/telemetry/metrics.hpp>
#include <keel/testing/bus.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/servers.hpp>

namespace keel::bus {
namespace {
namespace json = boost::json;
using keel::testing::PgServer;

constexpr const char* kTopic = "lab.ping.v1";

Task<std::shared_ptr<pg::Pool>> Fresh(const std::string& db) {
    auto pool = co_await keel::testing::FreshPool(db);
    co_await pool->Execute("CREATE TABLE seen (event_id uuid PRIMARY KEY, n bigint NOT NULL)");
    auto nats = keel::testing::TestNats();
    for (const char* stream : {"LAB", "DLQ"})
        nats->ApiRequest(std::string("STREAM.PURGE.") + stream, "");
    co_return pool;
}

Task<std::int64_t> Count(pg::Pool& pool, const std::string& sql) {
    auto r = co_await pool.Execute(sql);
    co_return r.Int(0, 0);
}

// Publishes ping `n` straight to JetStream (no outbox: the database may be down).
std::uint64_t PublishPing(Bus& bus, std::int64_t n) {
    std::string id = "p";
    id += std::to_string(n);
    const json::value payload = json::object{{"id", id}, {"n", n}, {"body", "x"}};
    auto msg = NewMsg(kTopic, bus.GetCodec().Encode(kTopic, payload));
    char event_id[64];
    std::snprintf(event_id, sizeof event_id, "0190a5a4-0000-7000-8000-%012lld",
                  static_cast<long long>(n));
    SetHeader(msg.get(), header::kEventId, event_id);
    return bus.Connection()->Publish(msg.get());
}

Task<void> Record(pg::Connection& c, const Event& e) {
    co_await c.Execute("INSERT INTO seen (event_id, n) VALUES ($1, $2)", e.envelope.event_id,
                       e.payload.at("n").as_int64());
}

telemetry::Counter& Metric(const char* name, const std::string& consumer) {
    return telemetry::DefaultRegistry().GetCounter(name, "", {{"consumer", consumer}});
}

telemetry::Counter& DeadLetters(const std::string& consumer) {
    return telemetry::DefaultRegistry().GetCounter(
        "keel_bus_consumed_total", "", {{"consumer", consumer}, {"outcome", "dead_lettered"}});
}

std::string LastDeadLetterHeader(const char* key) {
    auto nats = keel::testing::TestNats();
    natsMsg* msg = nullptr;
    jsErrCode jerr{};
    if (js_GetLastMsg(&msg, nats->Js(), "DLQ", "dlq.lab.ping.v1", nullptr, &jerr) != NATS_OK)
        return "(none)";
    MsgPtr owned(msg);
    return GetHeader(msg, key);
}

json::object ConsumerInfo(const std::string& durable) {
    return json::parse(keel::testing::TestNats()->ApiRequest("CONSUMER.INFO.LAB." + durable, ""))
        .as_object();
}

SubscribeOptions Quick(int max_deliver) {
    SubscribeOptions options;
    options.max_deliver = max_deliver;
    options.backoff_base = std::chrono::milliseconds(20);
    options.backoff_max = std::chrono::milliseconds(200);
    return options;
}

KEEL_CORO_TEST(ConsumerOutage, TransientErrorsAreRetriedPastMaxDeliverAndNeverDeadLettered) {
    auto pool = co_await Fresh("bus_transient");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("transient"));
    std::atomic<int> faults{0};
    std::atomic<bool> healthy{false};
    EventHandler handler = [&](pg::Connection& c, const Event& e) -> Task<void> {
        if (!healthy) {
            // Deadlocks and a broken connection alternate, as in a database failover.
            if (++faults % 2 == 0) throw pg::ConnectionError("postgres connection lost");
            throw pg::QueryError("40P01", "deadlock detected");
        }
        co_await Record(c, e);
    };
    bus->Subscribe(kTopic, handler, Quick(2));
    co_await bus->Start();
    for (int n = 0; n < 5; ++n) PublishPing(*bus, n);
    auto many_faults = [&]() -> Task<bool> { co_return faults.load() >= 8; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(many_faults));
    healthy = true;
    auto all_seen = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 5;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(all_seen));
    EXPECT_EQ(DeadLetters("transient-lab_ping_v1").Value(), 0u);
    EXPECT_EQ(LastDeadLetterHeader(header::kDlqConsumer), "(none)");
    EXPECT_GE(Metric("keel_bus_transient_retries_total", "transient-lab_ping_v1").Value(), 4u);
    // Transient failures left no handler-failure count behind.
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM bus_attempts"), 0);
    co_await bus->Stop();
}

// Blocks new connections to `db` and ends the open ones, as a database outage would.
Task<void> SetDatabaseReachable(const std::string& db, bool reachable) {
    pg::PoolOptions options;
    options.dsn = "host=127.0.0.1 port=" + std::to_string(PgServer::Shared().Port()) +
                  " dbname=postgres user=postgres";
    auto admin = pg::Pool::Create(co_await asio::this_coro::executor, options);
    const std::string allow = reachable ? "true" : "false";
    co_await admin->Execute("ALTER DATABASE " + db + " ALLOW_CONNECTIONS " + allow);
    if (!reachable)
        co_await admin->Execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", db);
}

KEEL_CORO_TEST(ConsumerOutage, AConsumerWhoseDatabaseIsDownPausesAndCatchesUpAfterwards) {
    auto pool = co_await Fresh("bus_down");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("down"));
    std::atomic<int> calls{0};
    EventHandler handler = [&](pg::Connection& c, const Event& e) -> Task<void> {
        ++calls;
        co_await Record(c, e);
    };
    bus->Subscribe(kTopic, handler, Quick(2));
    co_await bus->Start();
    auto& paused = telemetry::DefaultRegistry().GetGauge("keel_bus_consumer_paused", "",
                                                         {{"consumer", "down-lab_ping_v1"}});
    co_await SetDatabaseReachable("bus_down", false);
    for (int n = 0; n < 5; ++n) PublishPing(*bus, n);
    auto is_paused = [&]() -> Task<bool> { co_return paused.Value() == 1; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(is_paused));
    // While paused the worker fetches nothing: JetStream's delivery count stands still.
    const auto delivered = ConsumerInfo("down-lab_ping_v1").at("delivered").at("consumer_seq");
    co_await keel::testing::Sleep(std::chrono::milliseconds(1500));
    EXPECT_EQ(ConsumerInfo("down-lab_ping_v1").at("delivered").at("consumer_seq"), delivered);
    EXPECT_EQ(paused.Value(), 1);
    EXPECT_EQ(calls.load(), 0);
    co_await SetDatabaseReachable("bus_down", true);
    auto all_seen = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 5;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(all_seen));
    EXPECT_EQ(paused.Value(), 0);
    EXPECT_EQ(DeadLetters("down-lab_ping_v1").Value(), 0u);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM bus_attempts"), 0);
    co_await bus->Stop();
}

KEEL_CORO_TEST(ConsumerOutage, AHandlerErrorIsDeadLetteredAfterMaxDeliverFailures) {
    auto pool = co_await Fresh("bus_handler_error");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("failing"));
    std::atomic<int> poison_calls{0};
    EventHandler handler = [&](pg::Connection& c, const Event& e) -> Task<void> {
        if (e.payload.at("n").as_int64() == 3) {
            ++poison_calls;
            throw std::runtime_error("bad data in 3");
        }
        co_await Record(c, e);
    };
    bus->Subscribe(kTopic, handler, Quick(3));
    co_await bus->Start();
    for (int n = 0; n < 6; ++n) PublishPing(*bus, n);
    auto dead = [&]() -> Task<bool> { co_return DeadLetters("failing-lab_ping_v1").Value() == 1; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(dead));
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM seen"), 5);
    EXPECT_NE(LastDeadLetterHeader(header::kDlqError).find("bad data in 3"), std::string::npos);
    co_await keel::testing::Sleep(std::chrono::milliseconds(300));
    // One try per delivery, and one more when its first batch held others (all together,
    // then alone); the first failure is counted once.
    EXPECT_GE(poison_calls.load(), 3);
    EXPECT_LE(poison_calls.load(), 4);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM bus_attempts"), 0);
    co_await bus->Stop();
}

KEEL_CORO_TEST(ConsumerOutage, ConsumersAreCreatedOrUpdatedWithUnlimitedMaxDeliver) {
    auto pool = co_await Fresh("bus_unlimited");
    // A consumer as an older version made it, with a delivery limit.
    ConsumerSpec old;
    old.durable = "unlimited-lab_ping_v1";
    old.filter_subject = kTopic;
    old.max_deliver = 5;
    keel::testing::TestNats()->EnsureConsumer("LAB", old);
    EXPECT_EQ(ConsumerInfo(old.durable).at("config").at("max_deliver").to_number<int>(), 8);
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("unlimited"));
    bus->Subscribe(kTopic, EventHandler(Record));
    co_await bus->Start();
    EXPECT_EQ(ConsumerInfo(old.durable).at("config").at("max_deliver").to_number<int>(), -1);
    co_await bus->Stop();
}

KEEL_CORO_TEST(ConsumerOutage, AHangingHandlerIsAbandonedAtTheDeadlineAndRedelivered) {
    auto pool = co_await Fresh("bus_hang");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("hang"));
    std::atomic<int> calls{0};
    EventHandler handler = [&](pg::Connection& c, const Event& e) -> Task<void> {
        if (++calls == 1) co_await c.Execute("SELECT pg_sleep(30)");  // first try hangs
        co_await Record(c, e);
    };
    auto options = Quick(3);
    options.handler_deadline = std::chrono::milliseconds(500);
    bus->Subscribe(kTopic, handler, options);
    co_await bus->Start();
    const auto started = std::chrono::steady_clock::now();
    for (int n = 0; n < 3; ++n) PublishPing(*bus, n);
    auto all_seen = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 3;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(all_seen));
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
    EXPECT_GE(Metric("keel_bus_handler_deadline_exceeded_total", "hang-lab_ping_v1").Value(), 1u);
    EXPECT_EQ(DeadLetters("hang-lab_ping_v1").Value(), 0u);
    // The abandoned statement does not linger on the server holding its locks.
    auto no_sleeper = [&]() -> Task<bool> {
        co_return co_await Count(*pool,
                                 "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                                 "'SELECT pg_sleep%' AND state = 'active'") == 0;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(no_sleeper, std::chrono::seconds(5)));
    co_await bus->Stop();
}

KEEL_CORO_TEST(ConsumerOutage, AnEventThatNeverFinishesIsDeadLetteredAfterMaxDeliverAttempts) {
    auto pool = co_await Fresh("bus_never");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("never"));
    std::atomic<int> poison_calls{0};
    // Like an event that crashes the process every time: its attempts never end.
    EventHandler handler = [&](pg::Connection& c, const Event& e) -> Task<void> {
        if (e.payload.at("n").as_int64() == 1) {
            ++poison_calls;
            co_await keel::testing::Sleep(std::chrono::seconds(30));
        }
        co_await Record(c, e);
    };
    auto options = Quick(2);
    options.handler_deadline = std::chrono::milliseconds(300);
    bus->Subscribe(kTopic, handler, options);
    co_await bus->Start();
    for (int n = 0; n < 3; ++n) PublishPing(*bus, n);
    auto dead = [&]() -> Task<bool> { co_return DeadLetters("never-lab_ping_v1").Value() == 1; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(dead));
    EXPECT_NE(LastDeadLetterHeader(header::kDlqError).find("did not finish in 2 attempts"),
              std::string::npos);
    auto others_seen = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 2;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(others_seen));
    // First delivery (uncounted, like a crash before any bookkeeping) and two counted.
    EXPECT_EQ(poison_calls.load(), 3);
    co_await bus->Stop();
}

KEEL_CORO_TEST(ConsumerOutage, AMaxDeliveriesAdvisoryBecomesADeadLetter) {
    auto pool = co_await Fresh("bus_advisory");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("advisory"));
    bus->Subscribe(kTopic, EventHandler(Record));
    co_await bus->Start();
    const auto seq = PublishPing(*bus, 42);
    auto seen = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 1;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(seen));  // the listener is up by now
    // What nats-server 2.9 sends when a consumer with a MaxDeliver gives up on a message.
    const std::string advisory =
        R"({"type":"io.nats.jetstream.advisory.v1.max_deliver","stream":"LAB",)"
        R"("consumer":"advisory-lab_ping_v1","stream_seq":)" +
        std::to_string(seq) + R"(,"deliveries":8})";
    bus->Connection()->PublishNoWait(
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.LAB.advisory-lab_ping_v1", advisory);
    auto dead = [&]() -> Task<bool> {
        co_return LastDeadLetterHeader(header::kDlqConsumer) == "advisory-lab_ping_v1";
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(dead));
    EXPECT_EQ(LastDeadLetterHeader(header::kDlqStreamSeq), std::to_string(seq));
    EXPECT_EQ(LastDeadLetterHeader(header::kDlqDeliveries), "8");
    EXPECT_EQ(LastDeadLetterHeader(header::kEventId), "0190a5a4-0000-7000-8000-000000000042");
    co_await bus->Stop();
}

}  // namespace
}  // namespace keel::bus
