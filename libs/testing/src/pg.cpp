#include <keel/testing/pg.hpp>
#include <keel/testing/servers.hpp>

namespace keel::testing {

Task<std::shared_ptr<pg::Pool>> FreshPool(const std::string& db) {
    const pg::PoolOptions options;
    co_return co_await FreshPool(db, options);
}

Task<std::shared_ptr<pg::Pool>> FreshPool(const std::string& db, pg::PoolOptions options) {
    options.dsn = PgServer::Shared().CreateDatabase(db);
    co_return pg::Pool::Create(co_await asio::this_coro::executor, std::move(options));
}

Task<std::shared_ptr<pg::Pool>> MigratedPool(const std::string& db,
                                             std::span<const pg::Migration> migrations,
                                             const std::string& service) {
    const pg::PoolOptions options;
    co_return co_await MigratedPool(db, migrations, service, options);
}

Task<std::shared_ptr<pg::Pool>> MigratedPool(const std::string& db,
                                             std::span<const pg::Migration> migrations,
                                             const std::string& service, pg::PoolOptions options) {
    auto pool = co_await FreshPool(db, std::move(options));
    co_await pg::Migrate(*pool, migrations, service);
    co_return pool;
}

}  // namespace keel::testing
