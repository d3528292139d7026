// JetStream losing the bus's streams and consumers while services run (a wiped store, a
// stream deleted by hand): the running bus declares them again within seconds and
// carries on, without a restart; `keel-bus outbox republish` brings back what was lost.
// A restart with the store intact must not look like a loss.
#include <keel/bus/bus.hpp>
#include <keel/bus/nats.hpp>

#include <boost/json/parse.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

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

telemetry::Counter& Redeclared() {
    return telemetry::DefaultRegistry().GetCounter("keel_bus_redeclared_total", "");
}

std::shared_ptr<Nats> Admin(const NatsServer& server) {
    return Nats::Connect({{server.Url()}, "test", std::chrono::milliseconds(10000)});
}

// The JetStream store of `server`: NatsServer writes <dir>/nats.conf with its port and
// <dir>/js as store_dir (libs/testing/src/servers.cpp).
std::string StoreDirOf(const NatsServer& server) {
    const std::string listen = "listen: 127.0.0.1:" + std::to_string(server.Port()) + "\n";
    for (const auto& entry : std::filesystem::directory_iterator("/tmp")) {
        if (entry.path().filename().string().rfind("keel-nats-", 0) != 0) continue;
        std::ifstream config(entry.path() / "nats.conf");
        std::stringstream text;
        text << config.rdbuf();
        if (text.str().rfind(listen, 0) == 0) return (entry.path() / "js").string();
    }
    throw std::runtime_error("store of the test nats-server not found");
}

BusSettings SettingsFor(const NatsServer& server, const std::string& service) {
    auto settings = keel::testing::TestBusSettings(service);
    settings.urls = {server.Url()};
    return settings;
}

Task<std::int64_t> Count(pg::Pool& pool, std::string sql) {
    auto r = co_await pool.Execute(sql);
    co_return r.Int(0, 0);
}

Task<void> EmitPing(Bus& bus, std::int64_t n) {
    auto origin = bus.FromRequest("", "", "test");
    std::string id = "p";
    id += std::to_string(n);
    const json::value payload = json::object{{"id", id}, {"n", n}, {"body", "x"}};
    auto body = [&](pg::Connection& c) -> Task<void> {
        co_await bus.Emit(c, kTopic, payload, origin);
    };
    co_await bus.Transaction(body);
}

EventHandler RecordIn(std::string table, std::atomic<int>* calls) {
    return [table, calls](pg::Connection& c, const Event& e) -> Task<void> {
        ++*calls;
        co_await c.Execute("INSERT INTO " + table + " (event_id, n) VALUES ($1, $2)",
                           e.envelope.event_id, e.payload.at("n").as_int64());
    };
}

Task<std::shared_ptr<pg::Pool>> Fresh(const std::string& db) {
    auto pool = co_await keel::testing::FreshPool(db);
    co_await pool->Execute("CREATE TABLE seen (event_id uuid PRIMARY KEY, n bigint NOT NULL)");
    co_await pool->Execute(
        "CREATE TABLE seen_later (event_id uuid PRIMARY KEY, n bigint NOT NULL)");
    co_return pool;
}

std::int64_t StreamMessages(const NatsServer& server, const std::string& stream) {
    const auto info = json::parse(Admin(server)->ApiRequest("STREAM.INFO." + stream, ""));
    if (!info.as_object().contains("state")) return -1;
    return info.at("state").at("messages").to_number<std::int64_t>();
}

KEEL_CORO_TEST(Redeclare, AWipedStoreIsDeclaredAgainAndRepublishBringsTheLostWindowBack) {
    NatsServer server("");
    auto pool = co_await Fresh("redeclare_wiped");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool, SettingsFor(server, "wiped"));
    bus->Publishes(kTopic);
    std::atomic<int> calls{0};
    bus->Subscribe(kTopic, RecordIn("seen", &calls));
    co_await bus->Start();
    const auto before = Redeclared().Value();
    auto since = co_await pool->Execute("SELECT (extract(epoch FROM now()) * 1e6)::bigint");
    const std::int64_t since_us = since.Int(0, 0);
    for (int n = 0; n < 5; ++n) co_await EmitPing(*bus, n);
    auto five_seen = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 5;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(five_seen, std::chrono::seconds(10)));

    // The store is lost: deleted under the server, which is killed and started again on
    // the same port with nothing (no streams, no consumers, no duplicate tracking).
    std::filesystem::remove_all(StoreDirOf(server));
    server.Restart(/*kill=*/true);
    EXPECT_EQ(StreamMessages(server, "LAB"), -1);  // stream not found

    // Emitted afterwards: consumed within seconds, by the same Bus.
    for (int n = 5; n < 10; ++n) co_await EmitPing(*bus, n);
    auto ten_seen = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 10;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(ten_seen, std::chrono::seconds(15)));
    EXPECT_GE(Redeclared().Value() - before, 1u);
    EXPECT_LE(Redeclared().Value() - before, 2u);  // once per loss, not every round
    EXPECT_EQ(StreamMessages(server, "LAB"), 5);   // 0-4 are lost
    const auto registry = json::parse(Admin(server)->ApiRequest("STREAM.INFO.REGISTRY", ""));
    EXPECT_EQ(registry.at("state").at("messages").to_number<std::int64_t>(), 1);

    // `keel-bus outbox republish --service wiped --since <before the first event>` (its
    // statement, tools/bus/src/outbox.cpp): the relay sends the window again; 5-9 are
    // dropped as duplicates, 0-4 are back in the stream.
    const std::string from = std::to_string(since_us);
    const std::string until = std::to_string(253402300799LL * 1'000'000);
    auto marked = co_await pool->Execute(
        "UPDATE bus_outbox SET published_at = NULL WHERE published_at >= to_timestamp($1::float8 "
        "/ 1e6) AND published_at < to_timestamp($2::float8 / 1e6)",
        from, until);
    EXPECT_EQ(marked.Affected(), 10);
    auto republished = [&]() -> Task<bool> {
        const auto left =
            co_await Count(*pool, "SELECT count(*) FROM bus_outbox WHERE published_at IS NULL");
        co_return left == 0 && StreamMessages(server, "LAB") == 10;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(republished, std::chrono::seconds(15)));

    // A service that starts reading now finds all ten; the first consumer's inbox absorbed
    // the copies of what it had handled.
    auto later =
        Bus::Create(co_await asio::this_coro::executor, pool, SettingsFor(server, "later"));
    std::atomic<int> later_calls{0};
    later->Subscribe(kTopic, RecordIn("seen_later", &later_calls));
    co_await later->Start();
    auto later_all = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen_later") == 10;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(later_all, std::chrono::seconds(10)));
    co_await keel::testing::Sleep(std::chrono::milliseconds(500));
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM seen"), 10);
    EXPECT_EQ(calls.load(), 10);
    co_await later->Stop();
    co_await bus->Stop();
}

KEEL_CORO_TEST(Redeclare, StreamsAndConsumersDeletedWhileRunningAreDeclaredAgain) {
    NatsServer server("");
    auto pool = co_await Fresh("redeclare_deleted");
    auto bus =
        Bus::Create(co_await asio::this_coro::executor, pool, SettingsFor(server, "deleted"));
    bus->Publishes(kTopic);
    std::atomic<int> calls{0};
    bus->Subscribe(kTopic, RecordIn("seen", &calls));
    co_await bus->Start();
    const auto before = Redeclared().Value();
    co_await EmitPing(*bus, 0);
    auto seen = [&](std::int64_t n) {
        return [&pool, n]() -> Task<bool> {
            co_return co_await Count(*pool, "SELECT count(*) FROM seen") == n;
        };
    };
    auto one = seen(1);
    EXPECT_TRUE(co_await keel::testing::WaitUntil(one, std::chrono::seconds(10)));

    // The consumer alone, while a fetch waits on it.
    Admin(server)->DeleteConsumer("LAB", "deleted-lab_ping_v1");
    co_await EmitPing(*bus, 1);
    auto two = seen(2);
    EXPECT_TRUE(co_await keel::testing::WaitUntil(two, std::chrono::seconds(15)));
    EXPECT_GE(Redeclared().Value() - before, 1u);

    // The stream (and so its consumer) through the API.
    const auto after_consumer = Redeclared().Value();
    Admin(server)->ApiRequest("STREAM.DELETE.LAB", "");
    co_await EmitPing(*bus, 2);
    auto three = seen(3);
    EXPECT_TRUE(co_await keel::testing::WaitUntil(three, std::chrono::seconds(15)));
    EXPECT_GE(Redeclared().Value() - after_consumer, 1u);
    co_await bus->Stop();
}

KEEL_CORO_TEST(Redeclare, ARestartWithTheStoreIntactIsNotALoss) {
    NatsServer server("");
    auto pool = co_await Fresh("redeclare_intact");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool, SettingsFor(server, "intact"));
    bus->Publishes(kTopic);
    std::atomic<int> calls{0};
    bus->Subscribe(kTopic, RecordIn("seen", &calls));
    co_await bus->Start();
    const auto before = Redeclared().Value();
    co_await EmitPing(*bus, 0);
    auto seen = [&](std::int64_t n) {
        return [&pool, n]() -> Task<bool> {
            co_return co_await Count(*pool, "SELECT count(*) FROM seen") == n;
        };
    };
    auto one = seen(1);
    EXPECT_TRUE(co_await keel::testing::WaitUntil(one, std::chrono::seconds(10)));
    server.Restart(/*kill=*/false);
    co_await EmitPing(*bus, 1);
    auto two = seen(2);
    EXPECT_TRUE(co_await keel::testing::WaitUntil(two, std::chrono::seconds(15)));
    server.Restart(/*kill=*/true);
    co_await EmitPing(*bus, 2);
    auto three = seen(3);
    EXPECT_TRUE(co_await keel::testing::WaitUntil(three, std::chrono::seconds(15)));
    // A few lag rounds (every 2 s) after the restarts: nothing was declared again.
    co_await keel::testing::Sleep(std::chrono::milliseconds(4500));
    EXPECT_EQ(Redeclared().Value(), before);
    EXPECT_EQ(StreamMessages(server, "LAB"), 3);
    co_await bus->Stop();
}

}  // namespace
}  // namespace keel::bus
