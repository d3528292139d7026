// Schema evolution and event ids against a real nats-server and PostgreSQL: a producer
// on another version of a topic's schema (a rolling deploy), a schema not registered
// yet, and event ids that are not in canonical (lower-case) form.
#include <keel/bus/bus.hpp>
#include <keel/bus/nats.hpp>

#include <nats/nats.h>

#include <boost/json/parse.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <keel/core/uuid.hpp>
#include <keel/telemetry/metrics.hpp>
#include <keel/testing/bus.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/servers.hpp>

#include "schema_registry.hpp"

namespace keel::bus {
namespace {
namespace json = boost::json;

constexpr const char* kTopic = "lab.ping.v1";

// A producer's codec over a test-data version of lab.ping.v1. Leaked on purpose: the
// codec keeps string_views of its source.
const Codec& VersionCodec(const std::string& file) {
    std::ifstream in(std::filesystem::path(KEEL_SOURCE_DIR) / "libs/bus/src/testdata" / file);
    std::stringstream text;
    text << in.rdbuf();
    const auto* json = new std::string(text.str());
    const auto* source = new SchemaSource{kTopic, *json};
    return *new Codec({source, 1});
}

// A fresh database with the effect table, and the LAB stream (created by a bus that
// publishes the topic, as in production) and DLQ empty.
Task<std::shared_ptr<pg::Pool>> Fresh(const std::string& db) {
    auto pool = co_await keel::testing::FreshPool(db);
    co_await pool->Execute("CREATE TABLE seen (event_id uuid PRIMARY KEY, n bigint NOT NULL)");
    auto maker = Bus::Create(co_await asio::this_coro::executor, pool,
                             keel::testing::TestBusSettings("evolve-maker"));
    maker->Publishes(kTopic);
    co_await maker->Start();
    co_await maker->Stop();
    auto nats = keel::testing::TestNats();
    for (const char* stream : {"LAB", "DLQ"})
        nats->ApiRequest(std::string("STREAM.PURGE.") + stream, "");
    co_return pool;
}

// Publishes one lab.ping.v1 event as a producer on `codec`'s version would.
void Produce(Nats& nats, const Codec& codec, const json::value& payload,
             const std::string& event_id) {
    auto msg = NewMsg(kTopic, codec.Encode(kTopic, payload));
    SetHeader(msg.get(), header::kEventId, event_id);
    SetHeader(msg.get(), header::kFingerprint, codec.Fingerprint(kTopic));
    nats.Publish(msg.get(), event_id);
}

json::value Ping(std::int64_t n, json::object extra = {}) {
    std::string id = "p";
    id += std::to_string(n);
    extra["id"] = id;
    extra["n"] = n;
    extra["body"] = "x";
    return extra;
}

Task<std::int64_t> Count(pg::Pool& pool, const std::string& sql) {
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

telemetry::Counter& Outcome(const std::string& consumer, const char* outcome) {
    return telemetry::DefaultRegistry().GetCounter("keel_bus_consumed_total", "",
                                                   {{"consumer", consumer}, {"outcome", outcome}});
}

bool AnyDeadLetter() {
    auto nats = keel::testing::TestNats();
    natsMsg* msg = nullptr;
    jsErrCode jerr{};
    if (js_GetLastMsg(&msg, nats->Js(), "DLQ", "dlq.lab.ping.v1", nullptr, &jerr) != NATS_OK)
        return false;
    MsgPtr owned(msg);
    return true;
}

SubscribeOptions QuickRetries() {
    SubscribeOptions options;
    options.max_deliver = 3;
    options.backoff_base = std::chrono::milliseconds(20);
    options.backoff_max = std::chrono::milliseconds(100);
    return options;
}

KEEL_CORO_TEST(SchemaEvolution, ANewerProducersEventsAreReadThroughTheRegistry) {
    auto pool = co_await Fresh("bus_evolve_newer");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("newer"));
    bus->Publishes(kTopic);
    std::atomic<int> calls{0};
    bus->Subscribe(kTopic, RecordSeen(&calls), QuickRetries());
    co_await bus->Start();
    auto nats = keel::testing::TestNats();
    // Connect registered what this service writes.
    EXPECT_EQ(FetchSchema(*nats, bus->GetCodec().Fingerprint(kTopic)),
              bus->GetCodec().SchemaJson(kTopic));
    // An instance on the newer version starts: registers its schema, then writes.
    const auto& newer = VersionCodec("lab.ping.v1.newer.avsc");
    EXPECT_NE(newer.Fingerprint(kTopic), bus->GetCodec().Fingerprint(kTopic));
    PublishSchemas(*nats, newer, {kTopic});
    for (int i = 0; i < 20; ++i)
        Produce(*nats, newer, Ping(i, {{"origin", "newer"}}), Uuid::V7().ToString());
    auto all_seen = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 20;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(all_seen));
    EXPECT_EQ(co_await Count(*pool, "SELECT count(DISTINCT n) FROM seen"), 20);
    EXPECT_EQ(Outcome("newer-lab_ping_v1", "dead_lettered").Value(), 0u);
    EXPECT_FALSE(AnyDeadLetter());
    EXPECT_TRUE(bus->GetCodec().KnowsWriter(newer.Fingerprint(kTopic)));
    co_await bus->Stop();
}

KEEL_CORO_TEST(SchemaEvolution, AnUnknownSchemaIsRetriedUntilItIsRegistered) {
    auto pool = co_await Fresh("bus_evolve_unknown");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("unknown"));
    std::atomic<int> calls{0};
    bus->Subscribe(kTopic, RecordSeen(&calls), QuickRetries());
    co_await bus->Start();
    auto nats = keel::testing::TestNats();
    const auto& later = VersionCodec("lab.ping.v1.later.avsc");
    Produce(*nats, later, Ping(1, {{"weight", 2.5}, {"labels", json::object{{"k", "v"}}}}),
            Uuid::V7().ToString());
    Produce(*nats, bus->GetCodec(), Ping(2), Uuid::V7().ToString());  // the rest flows
    auto& refused = Outcome("unknown-lab_ping_v1", "unknown_schema");
    // More refusals than max_deliver: a handler failure would be dead-lettered by now.
    auto retried = [&]() -> Task<bool> { co_return refused.Value() >= 5; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(retried));
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM seen"), 1);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM seen WHERE n = 2"), 1);
    EXPECT_EQ(Outcome("unknown-lab_ping_v1", "dead_lettered").Value(), 0u);
    EXPECT_FALSE(AnyDeadLetter());
    // The producer's version starts and registers its schema: the event goes through.
    PublishSchemas(*nats, later, {kTopic});
    auto both = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 2;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(both));
    EXPECT_EQ(Outcome("unknown-lab_ping_v1", "dead_lettered").Value(), 0u);
    EXPECT_FALSE(AnyDeadLetter());
    co_await bus->Stop();
}

KEEL_CORO_TEST(SchemaEvolution, ARegisteredSchemaThatDoesNotResolveWaitsAndIsNotLearned) {
    auto pool = co_await Fresh("bus_evolve_breaking");
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("breaking"));
    std::atomic<int> calls{0};
    bus->Subscribe(kTopic, RecordSeen(&calls), QuickRetries());
    co_await bus->Start();
    auto nats = keel::testing::TestNats();
    // "n" as a string: registered (a producer deployed it), but no reader of a long reads it.
    const auto* json = new std::string(
        R"({"type":"record","name":"lab.ping.v1","fields":[{"name":"id","type":"string"},)"
        R"({"name":"n","type":"string"},{"name":"body","type":"string"}]})");
    const auto* source = new SchemaSource{kTopic, *json};
    const auto& breaking = *new Codec({source, 1});
    PublishSchemas(*nats, breaking, {kTopic});
    auto msg =
        NewMsg(kTopic, breaking.Encode(kTopic, json::parse(R"({"id":"b","n":"one","body":""})")));
    SetHeader(msg.get(), header::kEventId, Uuid::V7().ToString());
    SetHeader(msg.get(), header::kFingerprint, breaking.Fingerprint(kTopic));
    nats->Publish(msg.get());
    auto& refused = Outcome("breaking-lab_ping_v1", "unknown_schema");
    auto retried = [&]() -> Task<bool> { co_return refused.Value() >= 5; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(retried));
    EXPECT_FALSE(bus->GetCodec().KnowsWriter(breaking.Fingerprint(kTopic)));
    EXPECT_EQ(calls.load(), 0);
    EXPECT_FALSE(AnyDeadLetter());
    co_await bus->Stop();
}

std::string UpperCase(std::string text) {
    for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return text;
}

KEEL_CORO_TEST(SchemaEvolution, AnUpperCaseEventIdIsProcessedOnceAndItsLowerCaseTwinIsADuplicate) {
    auto pool = co_await Fresh("bus_evolve_case");
    co_await CreateBusTables(*pool);
    // Events this consumer handled before, between new ones with upper-case ids, so that
    // fetched batches mix both: the inbox then sees some ids of a batch as new, by their
    // PostgreSQL text (lower-case), and the rest as duplicates.
    auto nats = keel::testing::TestNats();
    std::vector<std::string> fresh;
    for (int i = 0; i < 20; ++i) {
        const auto id = Uuid::V7().ToString();
        if (i % 2 == 1) {
            co_await pool->Execute("INSERT INTO bus_inbox (consumer, event_id) VALUES ($1, $2)",
                                   std::string("upper-lab_ping_v1"), id);
            Produce(*nats, Codec::Embedded(), Ping(i), id);
        } else {
            fresh.push_back(id);
            Produce(*nats, Codec::Embedded(), Ping(i), UpperCase(id));
        }
    }
    EXPECT_NE(UpperCase(fresh[0]), fresh[0]);
    auto bus = Bus::Create(co_await asio::this_coro::executor, pool,
                           keel::testing::TestBusSettings("upper"));
    bus->Publishes(kTopic);
    std::atomic<int> calls{0};
    bus->Subscribe(kTopic, RecordSeen(&calls), QuickRetries());
    co_await bus->Start();
    auto& duplicates = Outcome("upper-lab_ping_v1", "duplicate");
    auto handled = [&]() -> Task<bool> {
        co_return co_await Count(*pool, "SELECT count(*) FROM seen") == 10 &&
            duplicates.Value() == 10;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(handled, std::chrono::seconds(10)));
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM seen WHERE n % 2 = 0 AND event_id = '" +
                                        fresh[0] + "'"),
              1);
    // The same events again under their canonical ids (a replay): duplicates.
    for (std::size_t i = 0; i < fresh.size(); ++i)
        Produce(*nats, Codec::Embedded(), Ping(static_cast<std::int64_t>(2 * i)), fresh[i]);
    auto twins_skipped = [&]() -> Task<bool> { co_return duplicates.Value() == 20; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(twins_skipped, std::chrono::seconds(10)));
    EXPECT_EQ(calls.load(), 10);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM seen"), 10);
    // What this bus emits carries lower-case ids.
    std::string emitted;
    auto emit = [&](pg::Connection& c) -> Task<void> {
        const auto origin = bus->FromRequest("", "", "test");
        emitted = co_await bus->Emit(c, kTopic, Ping(100), origin);
    };
    co_await bus->Transaction(emit);
    EXPECT_EQ(emitted, Uuid::Parse(emitted)->ToString());
    EXPECT_EQ(emitted.find_first_of("ABCDEF"), std::string::npos);
    co_await bus->Stop();
}

}  // namespace
}  // namespace keel::bus
