#pragma once
#include <memory>
#include <span>
#include <string>

#include <keel/pg/migrations.hpp>
#include <keel/pg/pool.hpp>

namespace keel::testing {

/// A pool on a new, empty database `db` of PgServer::Shared() (dropped first if a
/// previous run left it), on the calling coroutine's executor.
Task<std::shared_ptr<pg::Pool>> FreshPool(const std::string& db);
/// The same with the pool's `options`; `dsn` is replaced by the new database's.
/// (Overloads, not a defaulted argument: GCC 12 frees a `{}` default twice in a co_await.)
Task<std::shared_ptr<pg::Pool>> FreshPool(const std::string& db, pg::PoolOptions options);

/// FreshPool with `migrations` applied as `service` applies them at start.
Task<std::shared_ptr<pg::Pool>> MigratedPool(const std::string& db,
                                             std::span<const pg::Migration> migrations,
                                             const std::string& service);
/// The same with the pool's `options` (e.g. a larger max_size); `dsn` is replaced.
Task<std::shared_ptr<pg::Pool>> MigratedPool(const std::string& db,
                                             std::span<const pg::Migration> migrations,
                                             const std::string& service, pg::PoolOptions options);

}  // namespace keel::testing
