// The relay lease: an instance that freezes while it relays is replaced within the
// lease, and once resumed it publishes nothing while another holds the lease.
#include <keel/bus/bus.hpp>
#include <keel/bus/nats.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <thread>

#include <keel/testing/bus.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/servers.hpp>

namespace keel::bus {
namespace {
namespace json = boost::json;
using keel::testing::PgServer;

constexpr const char* kTopic = "lab.ping.v1";
constexpr auto kLease = std::chrono::milliseconds(1500);

Task<void> EmitPings(Bus& bus, int from, int count) {
    auto origin = bus.FromRequest("", "", "test");
    auto body = [&](pg::Connection& c) -> Task<void> {
        for (int i = from; i < from + count; ++i) {
            const json::value payload = json::object{{"id", "p"}, {"n", i}, {"body", "x"}};
            co_await bus.Emit(c, kTopic, payload, origin);
        }
    };
    co_await bus.Transaction(body);
}

Task<std::int64_t> Unpublished(pg::Pool& pool) {
    auto r = co_await pool.Execute("SELECT count(*) FROM bus_outbox WHERE published_at IS NULL");
    co_return r.Int(0, 0);
}

Task<std::string> Holder(pg::Pool& pool) {
    auto r = co_await pool.Execute(
        "SELECT holder FROM bus_relay_lease WHERE expires_at > clock_timestamp()");
    co_return r.Rows() == 1 ? std::string(r.Text(0, 0)) : std::string("(none)");
}

BusSettings LeaseSettings(const std::string& instance) {
    auto settings = keel::testing::TestBusSettings("lease", instance);
    settings.relay_lease = kLease;
    return settings;
}

// Instance A of the service runs on its own io_context and thread, so that the test can
// freeze all of it at once, as SIGSTOP freezes a process, and resume it later.
class FreezableInstance {
public:
    explicit FreezableInstance(const std::string& db) {
        pg::PoolOptions options;
        options.dsn = "host=127.0.0.1 port=" + std::to_string(PgServer::Shared().Port()) +
                      " dbname=" + db + " user=postgres";
        pool_ = pg::Pool::Create(io_.get_executor(), options);
        bus_ = Bus::Create(io_.get_executor(), pool_, LeaseSettings("lease-a"));
        bus_->Publishes(kTopic);
        Resume();
        asio::co_spawn(io_, bus_->Start(), asio::use_future).get();
    }
    ~FreezableInstance() {
        if (!thread_.joinable()) Resume();
        asio::co_spawn(io_, bus_->Stop(), asio::use_future).get();
        guard_.reset();
        io_.stop();
        thread_.join();
        bus_.reset();
        pool_.reset();
    }
    void Freeze() {
        io_.stop();
        thread_.join();
    }
    void Resume() {
        io_.restart();
        thread_ = std::thread([this] { io_.run(); });
    }

private:
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
    std::thread thread_;
    std::shared_ptr<pg::Pool> pool_;
    std::shared_ptr<Bus> bus_;
};

KEEL_CORO_TEST(RelayLease, AFrozenRelayIsReplacedWithinTheLeaseAndStaysOutOnceResumed) {
    auto pool = co_await keel::testing::FreshPool("relay_lease");
    keel::testing::TestNats()->ApiRequest("STREAM.PURGE.LAB", "");
    auto a = std::make_unique<FreezableInstance>("relay_lease");
    auto a_holds = [&]() -> Task<bool> { co_return co_await Holder(*pool) == "lease-a"; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(a_holds, std::chrono::seconds(5)));
    auto b = Bus::Create(co_await asio::this_coro::executor, pool, LeaseSettings("lease-b"));
    b->Publishes(kTopic);
    co_await b->Start();

    // A freezes holding the lease; B's events are published once the lease ran out.
    a->Freeze();
    const auto frozen_at = std::chrono::steady_clock::now();
    co_await EmitPings(*b, 0, 10);
    auto drained = [&]() -> Task<bool> { co_return co_await Unpublished(*pool) == 0; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(drained, std::chrono::seconds(10)));
    const auto took = std::chrono::steady_clock::now() - frozen_at;
    EXPECT_LT(took, kLease + std::chrono::milliseconds(2500));  // the goal is 10 s
    EXPECT_EQ(co_await Holder(*pool), "lease-b");

    // B stops (giving the lease up) and a third instance that never renews holds it.
    co_await b->Stop();
    EXPECT_EQ(co_await Holder(*pool), "(none)");
    co_await pool->Execute(
        "UPDATE bus_relay_lease SET holder = 'ghost', expires_at = clock_timestamp() + interval "
        "'1 hour'");
    co_await EmitPings(*b, 10, 5);  // rows only: B's relay is stopped

    // A resumes: its lease ran out while it was frozen, so it publishes nothing.
    a->Resume();
    co_await keel::testing::Sleep(kLease);
    EXPECT_EQ(co_await Unpublished(*pool), 5);
    EXPECT_EQ(co_await Holder(*pool), "ghost");

    // Once the ghost's lease expires, A takes over and publishes them.
    co_await pool->Execute("UPDATE bus_relay_lease SET expires_at = clock_timestamp()");
    EXPECT_TRUE(co_await keel::testing::WaitUntil(drained, std::chrono::seconds(10)));
    EXPECT_EQ(co_await Holder(*pool), "lease-a");
    a.reset();
    EXPECT_EQ(co_await Holder(*pool), "(none)");  // released at stop
}

}  // namespace
}  // namespace keel::bus
