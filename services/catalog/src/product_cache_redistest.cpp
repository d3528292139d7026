// The two-tier product cache against a real Redis: invalidations between instances,
// and the local tier dropped when Redis restarts.
#include <keel/core/uuid.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/servers.hpp>

#include "product_cache.hpp"

namespace keel::catalog {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

redis::ClientOptions Connection(std::uint16_t port, std::string password = "") {
    redis::ClientOptions options;
    options.port = port;
    options.password = std::move(password);
    options.timeout = 500ms;
    return options;
}

// One catalog instance's cache, listening as main.cpp makes it listen.
std::shared_ptr<ProductCache> Instance(asio::any_io_executor executor,
                                       const redis::ClientOptions& connection) {
    auto cache = std::make_shared<ProductCache>(redis::Client::Create(executor, connection), 300s);
    cache->Listen(executor, connection);
    return cache;
}

// Until `id` is served from `cache`'s own memory (each round trip to Redis may fill it).
Task<bool> CachedLocally(std::shared_ptr<ProductCache> cache, std::string id) {
    auto filled = [cache, id]() -> Task<bool> {
        if (cache->GetLocal(id)) co_return true;
        co_await cache->Get(id);
        co_return cache->GetLocal(id).has_value();
    };
    co_return co_await testing::WaitUntil(filled, std::chrono::seconds(10));
}

Task<bool> GoneLocally(std::shared_ptr<ProductCache> cache, std::string id) {
    auto gone = [cache, id]() -> Task<bool> { co_return !cache->GetLocal(id).has_value(); };
    co_return co_await testing::WaitUntil(gone, std::chrono::seconds(10));
}

KEEL_CORO_TEST(ProductCache, WriteThroughOneInstanceReachesTheOtherWithinABound) {
    auto ex = co_await asio::this_coro::executor;
    const auto connection = Connection(testing::RedisServer::Shared().Port());
    auto a = Instance(ex, connection);
    auto b = Instance(ex, connection);
    const std::string id = Uuid::V7().ToString();
    co_await a->Put(id, R"({"v":1})");
    EXPECT_TRUE(co_await CachedLocally(a, id));
    EXPECT_TRUE(co_await CachedLocally(b, id));
    EXPECT_EQ(b->GetLocal(id), std::optional<std::string>(R"({"v":1})"));

    // The writer's flow: the database commit (not here), then Invalidate.
    const auto written = Clock::now();
    co_await a->Invalidate(id);
    EXPECT_EQ(a->GetLocal(id), std::nullopt);  // at once in the writer
    EXPECT_TRUE(co_await GoneLocally(b, id));
    const auto lag = Clock::now() - written;
    EXPECT_LT(lag, 500ms) << "invalidation took "
                          << std::chrono::duration_cast<std::chrono::milliseconds>(lag).count()
                          << " ms";
    EXPECT_EQ(co_await b->Get(id), std::nullopt);  // Redis lost it too: the next read loads the row

    co_await a->Put(id, R"({"v":2})");
    EXPECT_TRUE(co_await CachedLocally(b, id));
    EXPECT_EQ(b->GetLocal(id), std::optional<std::string>(R"({"v":2})"));
    a->Stop();
    b->Stop();
}

KEEL_CORO_TEST(ProductCache, ChangeOfTheKeyInRedisByAnyoneInvalidates) {
    auto ex = co_await asio::this_coro::executor;
    const auto connection = Connection(testing::RedisServer::Shared().Port());
    auto cache = Instance(ex, connection);
    auto other = redis::Client::Create(ex, connection);
    const std::string id = Uuid::V7().ToString();
    co_await cache->Put(id, "old");
    EXPECT_TRUE(co_await CachedLocally(cache, id));
    // e.g. another version of catalog, or an operator
    co_await other->Set(std::string(ProductCache::kKeyPrefix) + id, "new", 0s);
    EXPECT_TRUE(co_await GoneLocally(cache, id));
    EXPECT_TRUE(co_await CachedLocally(cache, id));
    EXPECT_EQ(cache->GetLocal(id), std::optional<std::string>("new"));
    cache->Stop();
}

KEEL_CORO_TEST(ProductCache, RedisRestartDropsTheLocalTier) {
    static testing::RedisServer server("catalog-cache-pw");
    auto ex = co_await asio::this_coro::executor;
    auto cache = Instance(ex, Connection(server.Port(), "catalog-cache-pw"));
    const std::string id = Uuid::V7().ToString();
    co_await cache->Put(id, R"({"v":1})");
    EXPECT_TRUE(co_await CachedLocally(cache, id));

    // The restart loses every invalidation meanwhile: nothing local may be served after it.
    server.Restart();
    EXPECT_TRUE(co_await GoneLocally(cache, id));
    EXPECT_EQ(cache->GetStale(id), std::optional<std::string>(R"({"v":1})"));
    // Once subscribed again, the old entry stays out (Redis restarted empty: a miss).
    auto resubscribed = [cache, id]() -> Task<bool> {
        co_await cache->Put(id, R"({"v":2})");
        co_await cache->Get(id);
        co_return cache->GetLocal(id).has_value();
    };
    EXPECT_TRUE(co_await testing::WaitUntil(resubscribed, std::chrono::seconds(10)));
    EXPECT_EQ(cache->GetLocal(id), std::optional<std::string>(R"({"v":2})"));
    cache->Stop();
}

KEEL_CORO_TEST(ProductCache, WithoutRedisTheLocalTierIsNeverUsed) {
    auto ex = co_await asio::this_coro::executor;
    auto cache = Instance(ex, Connection(testing::FreePort()));
    const std::string id = Uuid::V7().ToString();
    co_await cache->Put(id, "x");  // logged, not thrown
    EXPECT_EQ(co_await cache->Get(id), std::nullopt);
    EXPECT_EQ(cache->GetLocal(id), std::nullopt);
    EXPECT_EQ(cache->Local().Size().entries, 0U);
    cache->Stop();
}

}  // namespace
}  // namespace keel::catalog
