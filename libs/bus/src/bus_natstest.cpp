// The bus against a real nats-server (JetStream, file store) and PostgreSQL.
#include <keel/bus/bus.hpp>
#include <keel/bus/nats.hpp>

#include <nats/nats.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>

#include <atomic>
#include <functional>

#include <keel/telemetry/metrics.hpp>
#include <keel/testing/bus.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/servers.hpp>

namespace keel::bus {
namespace {
namespace json = boost::json;
using keel::testing::NatsServer;

constexpr const char* kTopic = "lab.ping.v1";

// Fresh database with the effect table, and an empty LAB stream and DLQ.
Task<std::shared_ptr<pg::Pool>> Fresh(const std::string& db) {
    auto pool = co_await keel::testing::FreshPool(db);
    co_await pool->Execute("CREATE TABLE seen (event_id uuid PRIMARY KEY, n bigint NOT NULL)");
    auto nats =
        Nats::Connect({{NatsServer::Shared().Url()}, "test", std::chrono::milliseconds(5000)});
    for (const char* stream : {"LAB", "DLQ"})
        nats->ApiRequest(std::string("STREAM.PURGE.") + stream, "");
    co_return pool;
}

json::value Ping(std::int64_t n) {
    // Appended, not "p" + to_string(n): GCC 12 warns falsely (-Wrestrict) on that form.
    std::string id = "p";
    id += std::to_string(n);
    return json::object{{"id", id}, {"n", n}, {"body", "x"}};
}

Task<void> EmitPings(Bus& bus, int from, int count) {
    auto origin = bus.FromRequest("", "", "test");
    auto body = [&](pg::Connection& c) -> Task<void> {
        for (int i = from; i < from + count; ++i) co_await bus.Emit(c, kTopic, Ping(i), origin);
    };
    co_await bus.Transaction(body);
}

Task<std::int64_t> Count(pg::Pool& pool, const std::string& sql) {
    auto r = co_await pool.Execute(sql);
    co_return r.Int(0, 0);
}

// Records each event once in `seen`, inside the consumer's transaction.
EventHandler RecordSeen(std::atomic<int>* calls = nullptr, std::int64_t poison = -1) {
    return [calls, poison](pg::Connection& c, const Event& e) -> Task<void> {
        if (calls) ++*calls;
        const auto n = e.payload.at("n").as_int64();
        if (n == poison) throw std::runtime_error("poison pill " + std::to_string(n));
        co_await c.Execute("INSERT INTO seen (event_id, n) VALUES ($1, $2)", e.envelope.event_id,
                           n);
    };
}

std::string LastDeadLetterHeader(const char* key) {
    auto nats =
        Nats::Connect({{NatsServer::Shared().Url()}, "test", std::chrono::milliseconds(5000)});
    natsMsg* msg = nullptr;
    jsErrCode jerr{};
    if (js_GetLastMsg(&msg, nats->Js(), "DLQ", "dlq.lab.ping.v1", nullptr, &jerr) != NATS_OK)
        return "(none)";
    MsgPtr owned(msg);
    return GetHeader(msg, key);
}

KEEL_CORO_TEST(Bus, OutboxEventsReachTheConsumerOnceWithTheirTrail) {
    auto pool = co_await Fresh("bus_once");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("once"));
    bus->Publishes(kTopic);
    std::vector<Hop> trail;
    EventHandler handler = [&trail](pg::Connection& c, const Event& e) -> Task<void> {
        if (trail.empty()) trail = e.envelope.trail;
        co_await c.Execute("INSERT INTO seen (event_id, n) VALUES ($1, $2)", e.envelope.event_id,
                           e.payload.at("n").as_int64());
    };
    bus->Subscribe(kTopic, handler);
    co_await bus->Start();
    co_await EmitPings(*bus, 0, 150);
    co_await EmitPings(*bus, 150, 150);
    auto all_seen = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") >= 300;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(all_seen));
    co_await keel::testing::Sleep(std::chrono::milliseconds(300));
    EXPECT_EQ(co_await Count(*pool, "SELECT count(DISTINCT n) FROM seen"), 300);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM bus_inbox"), 300);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM bus_outbox WHERE published_at IS NULL"),
              0);
    EXPECT_EQ(trail.size(), 1u);
    if (!trail.empty()) {
        EXPECT_EQ(trail[0].service, "once");
        EXPECT_EQ(trail[0].instance, "once-1");
    }
    co_await bus->Stop();
}

KEEL_CORO_TEST(Bus, TwoRelayingInstancesNeverPublishARowTwice) {
    auto pool = co_await Fresh("bus_two");
    auto& published =
        telemetry::DefaultRegistry().GetCounter("keel_bus_outbox_published_total", "");
    const auto before = published.Value();
    auto a = Bus::Create(co_await asio::this_coro::executor, pool,
                         keel::testing::TestBusSettings("two", "two-1"));
    auto b = Bus::Create(co_await asio::this_coro::executor, pool,
                         keel::testing::TestBusSettings("two", "two-2"));
    a->Publishes(kTopic);
    b->Publishes(kTopic);
    co_await a->Start();
    co_await b->Start();
    for (int i = 0; i < 40; ++i) {
        co_await EmitPings(i % 2 ? *a : *b, i * 25, 25);  // each commit wakes its own relay
        b->WakeRelay();
        a->WakeRelay();
    }
    auto drained = [&]() -> Task<bool> {
        co_return co_await Count(*pool,
                                 "SELECT count(*) FROM bus_outbox WHERE published_at IS NULL") == 0;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(drained));
    EXPECT_EQ(published.Value() - before, 1000u);  // not one more: no row went out twice
    co_await a->Stop();
    co_await b->Stop();
}

KEEL_CORO_TEST(Bus, APoisonedEventIsDeadLetteredAfterItsTriesAndTheRestFlow) {
    auto pool = co_await Fresh("bus_poison");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("poison"));
    bus->Publishes(kTopic);
    std::atomic<int> calls{0};
    SubscribeOptions options;
    options.max_deliver = 3;
    options.backoff_base = std::chrono::milliseconds(20);
    bus->Subscribe(kTopic, RecordSeen(&calls, 13), options);
    co_await bus->Start();
    co_await EmitPings(*bus, 0, 50);
    auto rest_seen = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 49;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(rest_seen));
    auto& dead = telemetry::DefaultRegistry().GetCounter(
        "keel_bus_consumed_total", "",
        {{"consumer", "poison-lab_ping_v1"}, {"outcome", "dead_lettered"}});
    auto dead_lettered = [&]() -> Task<bool> { co_return dead.Value() == 1; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(dead_lettered));
    EXPECT_EQ(LastDeadLetterHeader(header::kDlqConsumer), "poison-lab_ping_v1");
    EXPECT_NE(LastDeadLetterHeader(header::kDlqError).find("poison pill 13"), std::string::npos);
    EXPECT_EQ(LastDeadLetterHeader(header::kDlqDeliveries), "3");
    co_await keel::testing::Sleep(std::chrono::milliseconds(300));
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM seen WHERE n = 13"), 0);
    co_await bus->Stop();
}

KEEL_CORO_TEST(Bus, ARedeliveredOrRepublishedEventChangesNothing) {
    auto pool = co_await Fresh("bus_inbox");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("inbox"));
    bus->Publishes(kTopic);
    std::atomic<int> calls{0};
    bus->Subscribe(kTopic, RecordSeen(&calls));
    co_await bus->Start();
    // The same event published three times under different message ids, as a replay
    // or `keel-bus dlq retry` would: one effect.
    const auto bytes = bus->GetCodec().Encode(kTopic, Ping(7));
    for (int i = 0; i < 3; ++i) {
        auto msg = NewMsg(kTopic, bytes);
        SetHeader(msg.get(), header::kEventId, "0190a5a4-0000-7000-8000-000000000007");
        bus->Connection()->Publish(msg.get(), "republish-" + std::to_string(i));
    }
    auto three_calls = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 1 && calls.load() >= 1;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(three_calls));
    co_await keel::testing::Sleep(std::chrono::milliseconds(500));
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM seen"), 1);
    EXPECT_EQ(calls.load(), 1);  // the inbox filtered the other two before the handler
    co_await bus->Stop();
}

KEEL_CORO_TEST(Bus, UndecodableMessagesGoStraightToTheDeadLetters) {
    auto pool = co_await Fresh("bus_garbage");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("garbage"));
    std::atomic<int> calls{0};
    bus->Subscribe(kTopic, RecordSeen(&calls));
    co_await bus->Start();
    auto msg = NewMsg(kTopic, "\x02not avro at all");
    SetHeader(msg.get(), header::kEventId, "0190a5a4-0000-7000-8000-0000000000ff");
    bus->Connection()->Publish(msg.get());
    auto dead = [&]() -> Task<bool> {
        co_return LastDeadLetterHeader(header::kDlqConsumer) == "garbage-lab_ping_v1";
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(dead));
    EXPECT_NE(LastDeadLetterHeader(header::kDlqError).find("cannot decode"), std::string::npos);
    EXPECT_EQ(LastDeadLetterHeader(header::kDlqDeliveries), "1");
    EXPECT_EQ(calls.load(), 0);
    co_await bus->Stop();
}

KEEL_CORO_TEST(Bus, APayloadThatDoesNotMatchItsSchemaRollsTheTransactionBack) {
    auto pool = co_await Fresh("bus_schema");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("schema"));
    bus->Publishes(kTopic);
    co_await bus->Start();
    std::string error;
    try {
        auto body = [&](pg::Connection& c) -> Task<void> {
            co_await c.Execute("INSERT INTO seen (event_id, n) VALUES (gen_random_uuid(), 1)");
            const json::value wrong = json::parse(R"({"id":"x","n":"not a number","body":""})");
            const auto origin = bus->FromRequest("", "", "test");
            co_await bus->Emit(c, kTopic, wrong, origin);
        };
        co_await bus->Transaction(body);
    } catch (const SchemaError& e) {
        error = e.what();
    }
    EXPECT_EQ(error, "lab.ping.v1: n: expected an integer, got string");
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM seen"), 0);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM bus_outbox"), 0);
    co_await bus->Stop();
}

KEEL_CORO_TEST(Bus, NothingIsLostWhenNatsIsKilledMidStream) {
    auto pool = co_await Fresh("bus_restart");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("restart"));
    bus->Publishes(kTopic);
    bus->Subscribe(kTopic, RecordSeen());
    co_await bus->Start();
    co_await EmitPings(*bus, 0, 100);
    NatsServer::Shared().Restart(/*kill=*/true);
    co_await EmitPings(*bus, 100, 100);
    auto all = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 200;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(all, std::chrono::seconds(40)));
    EXPECT_EQ(co_await Count(*pool, "SELECT count(DISTINCT n) FROM seen"), 200);
    co_await bus->Stop();
}

}  // namespace
}  // namespace keel::bus
