// The outbox relay's way out of two bad situations, against a real nats-server and
// PostgreSQL: a row that can never be published (parked, the rest flows) and events
// JetStream acknowledged and then lost (republished from the outbox).
#include <keel/bus/bus.hpp>
#include <keel/bus/nats.hpp>

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
using keel::testing::NatsServer;

constexpr const char* kTopic = "lab.ping.v1";

Task<std::shared_ptr<pg::Pool>> Fresh(const std::string& db) {
    auto pool = co_await keel::testing::FreshPool(db);
    co_await pool->Execute("CREATE TABLE seen (event_id uuid PRIMARY KEY, n bigint NOT NULL)");
    for (const char* stream : {"LAB", "DLQ"})
        keel::testing::TestNats()->ApiRequest(std::string("STREAM.PURGE.") + stream, "");
    co_return pool;
}

json::value Ping(std::int64_t n, std::size_t body_bytes = 1) {
    std::string id = "p";
    id += std::to_string(n);
    return json::object{{"id", id}, {"n", n}, {"body", std::string(body_bytes, 'x')}};
}

// One transaction per event, so that a bad one cannot take the others with it.
Task<void> EmitPing(Bus& bus, std::int64_t n, std::size_t body_bytes = 1) {
    auto origin = bus.FromRequest("", "", "test");
    auto payload = Ping(n, body_bytes);
    auto body = [&](pg::Connection& c) -> Task<void> {
        co_await bus.Emit(c, kTopic, payload, origin);
    };
    co_await bus.Transaction(body);
}

Task<std::int64_t> Count(pg::Pool& pool, std::string sql) {
    auto r = co_await pool.Execute(sql);
    co_return r.Int(0, 0);
}

EventHandler RecordSeen(std::atomic<int>* calls) {
    return [calls](pg::Connection& c, const Event& e) -> Task<void> {
        ++*calls;
        co_await c.Execute("INSERT INTO seen (event_id, n) VALUES ($1, $2)", e.envelope.event_id,
                           e.payload.at("n").as_int64());
    };
}

KEEL_CORO_TEST(RelayOutbox, ARowOverMaxPayloadIsParkedAndTheRowsAfterItFlow) {
    auto pool = co_await Fresh("relay_park");
    auto& parked_total =
        telemetry::DefaultRegistry().GetCounter("keel_bus_outbox_parked_total", "");
    auto& parked_gauge = telemetry::DefaultRegistry().GetGauge("keel_bus_outbox_parked", "");
    const auto parked_before = parked_total.Value();
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("park"));
    bus->Publishes(kTopic);
    std::atomic<int> calls{0};
    bus->Subscribe(kTopic, RecordSeen(&calls));
    co_await bus->Start();
    for (int n = 0; n < 5; ++n) co_await EmitPing(*bus, n);
    co_await EmitPing(*bus, 5, 1100 * 1024);  // over the server's 1 MiB max_payload
    for (int n = 6; n < 10; ++n) co_await EmitPing(*bus, n);
    auto nine_seen = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 9;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(nine_seen, std::chrono::seconds(10)));
    auto parked = co_await pool->Execute(
        "SELECT length(payload), park_error FROM bus_outbox WHERE parked_at IS NOT NULL");
    EXPECT_EQ(parked.Rows(), 1);
    if (parked.Rows() == 1) {
        EXPECT_GT(parked.Int(0, 0), 1024 * 1024);
        EXPECT_NE(parked.Text(0, 1).find("Payload"), std::string::npos) << parked.Text(0, 1);
    }
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM seen WHERE n = 5"), 0);
    // Published rows are marked by the relay's next pass (within kMarkDelay when idle).
    auto all_marked = [&]() -> Task<bool> {
        co_return co_await Count(*pool,
                                 "SELECT count(*) FROM bus_outbox WHERE published_at IS NULL AND "
                                 "parked_at IS NULL") == 0;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(all_marked, std::chrono::seconds(5)));
    EXPECT_EQ(parked_total.Value() - parked_before, 1u);
    auto gauge_shows_it = [&]() -> Task<bool> { co_return parked_gauge.Value() == 1; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(gauge_shows_it, std::chrono::seconds(5)));

    // Unparked (what `keel-bus outbox unpark` does), it is tried again and parked again:
    // nothing about it changed. Rows emitted meanwhile still flow.
    co_await pool->Execute(
        "UPDATE bus_outbox SET parked_at = NULL, park_error = NULL WHERE parked_at IS NOT NULL");
    co_await EmitPing(*bus, 10);
    auto parked_again = [&]() -> Task<bool> {
        const auto seen = co_await Count(*pool, "SELECT count(*) FROM seen");
        co_return parked_total.Value() - parked_before == 2 && seen == 10;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(parked_again, std::chrono::seconds(10)));
    EXPECT_EQ(calls.load(), 10);
    co_await bus->Stop();
}

std::uint64_t StreamMessages(const std::string& stream) {
    const auto info =
        json::parse(keel::testing::TestNats()->ApiRequest("STREAM.INFO." + stream, ""));
    return info.at("state").at("messages").to_number<std::uint64_t>();
}

KEEL_CORO_TEST(RelayOutbox, ARepublishedWindowIsSentAgainAndTheInboxAbsorbsIt) {
    auto pool = co_await Fresh("relay_republish");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("republish"));
    bus->Publishes(kTopic);
    std::atomic<int> calls{0};
    bus->Subscribe(kTopic, RecordSeen(&calls));
    co_await bus->Start();
    for (int n = 0; n < 20; ++n) co_await EmitPing(*bus, n);
    auto all_seen = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 20;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(all_seen, std::chrono::seconds(10)));
    EXPECT_EQ(StreamMessages("LAB"), 20u);

    // JetStream loses what it had acknowledged (a wiped store): purged, and restarted so
    // that its duplicate tracking is rebuilt from the (empty) store, as after a crash.
    keel::testing::TestNats()->ApiRequest("STREAM.PURGE.LAB", "");
    NatsServer::Shared().Restart(/*kill=*/true);
    EXPECT_EQ(StreamMessages("LAB"), 0u);

    // `keel-bus outbox republish --since <start>`: the window goes back to unpublished.
    auto marked = co_await pool->Execute(
        "UPDATE bus_outbox SET published_at = NULL WHERE published_at >= now() - interval '1 "
        "hour' AND published_at < now() AND parked_at IS NULL");
    EXPECT_EQ(marked.Affected(), 20);
    auto republished = [&]() -> Task<bool> {
        const auto left =
            co_await Count(*pool, "SELECT count(*) FROM bus_outbox WHERE published_at IS NULL");
        co_return left == 0 && StreamMessages("LAB") == 20;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(republished, std::chrono::seconds(30)));
    // The consumer got all 20 again and its inbox dropped them before the handler.
    co_await keel::testing::Sleep(std::chrono::milliseconds(1000));
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM seen"), 20);
    EXPECT_EQ(calls.load(), 20);
    // Everything is settled in the end. Acks sent while the client was reconnecting can be
    // lost; those messages come back after the ack wait and the inbox drops them again.
    auto settled = []() -> Task<bool> {
        const auto position = json::parse(
            keel::testing::TestNats()->ApiRequest("CONSUMER.INFO.LAB.republish-lab_ping_v1", ""));
        co_return position.at("num_pending").to_number<std::int64_t>() == 0 &&
            position.at("num_ack_pending").to_number<std::int64_t>() == 0;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(settled, std::chrono::seconds(45)));
    EXPECT_EQ(calls.load(), 20);
    co_await bus->Stop();
}

KEEL_CORO_TEST(RelayOutbox, AnOutageIsRetriedAndParksNothing) {
    auto pool = co_await Fresh("relay_outage");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("outage"));
    bus->Publishes(kTopic);
    co_await bus->Start();
    for (int n = 0; n < 20; ++n) co_await EmitPing(*bus, n);
    NatsServer::Shared().Restart(/*kill=*/true);  // connection closed, no responders, timeouts
    for (int n = 20; n < 40; ++n) co_await EmitPing(*bus, n);
    auto drained = [&]() -> Task<bool> {
        co_return co_await Count(*pool,
                                 "SELECT count(*) FROM bus_outbox WHERE published_at IS "
                                 "NULL") == 0;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(drained, std::chrono::seconds(30)));
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM bus_outbox WHERE parked_at IS NOT NULL"),
              0);
    co_await bus->Stop();
}

}  // namespace
}  // namespace keel::bus
