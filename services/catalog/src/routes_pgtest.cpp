// GET /api/catalog/products/{id} while catalog's database is unreachable: a cached
// product is served, marked stale; anything else is still unavailable (503).
#include <keel/core/unavailable.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/servers.hpp>

#include "migrations.hpp"
#include "routes.hpp"

namespace keel::catalog {
namespace {

using namespace std::chrono_literals;

struct Answer {
    http::Status status = http::Status::internal_server_error;
    std::string body;
    std::string x_cache;
    std::string warning;
};

// The route's handler called as the server calls it, headers kept (testing::CallRoute
// keeps only status and body).
Task<Answer> GetProduct(std::shared_ptr<http::Router> router, std::string id) {
    const std::string path = "/api/catalog/products/" + id;
    http::Request request{http::Verb::get, path, 11};
    std::vector<std::pair<std::string_view, std::string_view>> params;
    const auto match = router->Find(http::Verb::get, path, params);
    http::RequestContext ctx(request, "test-request", "127.0.0.1");
    ctx.SetParamsForRouter(std::move(params));
    auto response = co_await match.route->handler(ctx);
    Answer answer;
    answer.status = response.result();
    answer.body = response.body();
    answer.x_cache = std::string(response["X-Cache"]);
    answer.warning = std::string(response[http::beast_http::field::warning]);
    co_return answer;
}

// A pool whose server is gone: every statement fails as it would with PostgreSQL stopped.
std::shared_ptr<pg::Pool> DeadPool(asio::any_io_executor executor) {
    pg::PoolOptions options;
    options.dsn = "host=127.0.0.1 port=" + std::to_string(testing::FreePort()) +
                  " dbname=catalog user=catalog connect_timeout=1";
    options.connect_timeout = 500ms;
    options.acquire_timeout = 500ms;
    return pg::Pool::Create(std::move(executor), options);
}

KEEL_CORO_TEST(CatalogRoutes, CachedProductIsServedStaleWhileTheDatabaseIsUnreachable) {
    auto ex = co_await asio::this_coro::executor;
    auto pool = co_await testing::MigratedPool("catalog_routes_stale", Migrations(), "catalog");
    redis::ClientOptions connection;
    connection.port = testing::RedisServer::Shared().Port();
    connection.timeout = 500ms;
    auto redis = redis::Client::Create(ex, connection);
    auto cache = std::make_shared<ProductCache>(redis, 300s);
    cache->Listen(ex, connection);

    auto live = std::make_shared<CatalogContext>();
    live->store = std::make_shared<ProductStore>(pool);
    live->cache = cache;
    auto down = std::make_shared<CatalogContext>(*live);
    down->store = std::make_shared<ProductStore>(DeadPool(ex));
    auto live_router = std::make_shared<http::Router>(MakeRouter(live));
    auto down_router = std::make_shared<http::Router>(MakeRouter(down));

    Product mug{"", "STALE-MUG", "Mug", "", 1200, "EUR", 3};
    co_await live->store->Create(mug);
    Product tee{"", "STALE-TEE", "Tee", "", 1500, "EUR", 3};
    co_await live->store->Create(tee);

    const auto first = co_await GetProduct(live_router, mug.id);
    EXPECT_EQ(first.status, http::Status::ok);
    EXPECT_EQ(first.x_cache, "miss");
    // Until a read finds it in Redis and keeps it in memory (once the subscription is up).
    auto in_memory = [cache, id = mug.id]() -> Task<bool> {
        co_await cache->Get(id);
        co_return cache->GetLocal(id).has_value();
    };
    EXPECT_TRUE(co_await testing::WaitUntil(in_memory, std::chrono::seconds(10)));

    // Database gone, cache current: served as usual (nothing says it is old).
    const auto fresh = co_await GetProduct(down_router, mug.id);
    EXPECT_EQ(fresh.status, http::Status::ok);
    EXPECT_EQ(fresh.x_cache, "hit");
    EXPECT_EQ(fresh.warning, "");
    EXPECT_EQ(fresh.body, first.body);

    // The Redis entry expires (or is evicted, or a write deleted it): the local copy is
    // no longer known to be current, and the database cannot say.
    co_await redis->Del(std::string(ProductCache::kKeyPrefix) + mug.id);
    auto dropped = [cache, id = mug.id]() -> Task<bool> { co_return !cache->GetLocal(id); };
    EXPECT_TRUE(co_await testing::WaitUntil(dropped, std::chrono::seconds(10)));
    const auto stale = co_await GetProduct(down_router, mug.id);
    EXPECT_EQ(stale.status, http::Status::ok);
    EXPECT_EQ(stale.x_cache, "stale");
    EXPECT_EQ(stale.warning, kStaleWarning);
    EXPECT_EQ(stale.body, first.body);

    // Never cached here: nothing to fall back on, so the outage shows (the server's 503).
    bool unavailable = false;
    try {
        co_await GetProduct(down_router, tee.id);
    } catch (const UnavailableError&) {
        unavailable = true;
    }
    EXPECT_TRUE(unavailable);

    // The database back: the current row again, unmarked.
    const auto again = co_await GetProduct(live_router, mug.id);
    EXPECT_EQ(again.status, http::Status::ok);
    EXPECT_EQ(again.x_cache, "miss");
    EXPECT_EQ(again.warning, "");
    cache->Stop();
}

}  // namespace
}  // namespace keel::catalog
