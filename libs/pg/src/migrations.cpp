#include <keel/pg/migrations.hpp>

#include <algorithm>
#include <map>

#include <keel/core/log.hpp>

namespace keel::pg {
namespace {

constexpr std::string_view kCreateTable = R"(
CREATE TABLE IF NOT EXISTS keel_schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
))";
constexpr std::string_view kLock = "SELECT pg_advisory_lock(hashtext($1))";
constexpr std::string_view kUnlock = "SELECT pg_advisory_unlock(hashtext($1))";
constexpr std::string_view kApplied = "SELECT version, name, checksum FROM keel_schema_migrations";
constexpr std::string_view kChecksum = "SELECT md5($1)";
constexpr std::string_view kRecord =
    "INSERT INTO keel_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)";

Task<int> ApplyPending(Connection& conn, std::span<const Migration> migrations) {
    co_await conn.ExecuteScript(kCreateTable);
    std::map<int, std::pair<std::string, std::string>> applied;
    auto rows = co_await conn.Execute(kApplied);
    for (int i = 0; i < rows.Rows(); ++i) {
        applied[static_cast<int>(rows.Int(i, 0))] = {std::string(rows.Text(i, 1)),
                                                     std::string(rows.Text(i, 2))};
    }
    int count = 0;
    for (const auto& m : migrations) {
        auto sum = co_await conn.Execute(kChecksum, m.sql);
        const std::string checksum(sum.Text(0, 0));
        if (auto it = applied.find(m.version); it != applied.end()) {
            if (it->second.second != checksum) {
                throw MigrationError(
                    "migration " + std::string(m.name) +
                    " was changed after it was applied; add a new migration instead");
            }
            continue;
        }
        co_await conn.ExecuteScript("BEGIN");
        co_await conn.ExecuteScript(m.sql);
        co_await conn.Execute(kRecord, m.version, m.name, checksum);
        co_await conn.ExecuteScript("COMMIT");
        log::Info("migration applied", {{"migration", m.name}});
        ++count;
    }
    co_return count;
}

}  // namespace

Task<int> Migrate(Pool& pool, std::span<const Migration> migrations, const std::string& service) {
    if (!std::is_sorted(
            migrations.begin(), migrations.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; })) {
        throw MigrationError("migrations are not in version order");
    }
    auto lease = co_await pool.Acquire();
    // Migrations may rightly run long (an index build) and wait long for the lock while
    // another instance migrates: the pool's session limits are lifted here, and RESET
    // (back to the connection's own) below.
    co_await lease->ExecuteScript("SET statement_timeout = 0; SET lock_timeout = 0");
    co_await lease->Execute(kLock, "keel-migrations:" + service);
    // On failure the lease is dropped as broken or mid-transaction, or unlocked below;
    // either way the session-level advisory lock goes with it.
    int count = 0;
    std::exception_ptr failure;
    try {
        count = co_await ApplyPending(*lease, migrations);
    } catch (...) {
        failure = std::current_exception();
    }
    if (!lease->Broken()) {
        if (lease->InTransaction()) co_await lease->ExecuteScript("ROLLBACK");
        co_await lease->ExecuteScript("RESET statement_timeout; RESET lock_timeout");
        co_await lease->Execute(kUnlock, "keel-migrations:" + service);
    }
    if (failure) std::rethrow_exception(failure);
    co_return count;
}

}  // namespace keel::pg
