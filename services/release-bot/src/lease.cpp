#include "lease.hpp"

#include <keel/core/log.hpp>

namespace keel::release_bot {

constexpr std::string_view kTryLock = "SELECT pg_try_advisory_lock(hashtext($1))";

Task<bool> AdvisoryLease::TryAcquire() {
    if (connection_) co_return true;
    auto connection = co_await pg::Connection::Connect(dsn_, connect_timeout_);
    auto taken = co_await connection->Execute(kTryLock, name_);
    if (!taken.Bool(0, 0)) co_return false;  // the connection closes, asking nothing of anyone
    connection_ = std::move(connection);
    co_return true;
}

Task<bool> AdvisoryLease::StillHeld() {
    if (!connection_) co_return false;
    bool alive = true;
    try {
        co_await connection_->Execute("SELECT 1");
    } catch (const std::exception& e) {
        log::Warn("lease session lost", {{"error", e.what()}});
        alive = false;
    }
    if (!alive) connection_.reset();
    co_return alive;
}

}  // namespace keel::release_bot
