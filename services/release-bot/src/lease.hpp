#pragma once
#include <chrono>
#include <memory>
#include <string>

#include <keel/core/asio.hpp>
#include <keel/pg/pool.hpp>

namespace keel::release_bot {

/// "Only one of us polls Telegram": a PostgreSQL session-level advisory lock in release-bot's own
/// database, held on a connection of its own (not the pool's: the lock lives as long as the
/// session). A replica that dies, or whose connection breaks, loses the lock with its session, so
/// the other replica takes over within its retry period; no expiry to tune, no clock involved.
/// Not thread-safe: one coroutine (the poller) uses it.
class AdvisoryLease final {
public:
    AdvisoryLease(std::string dsn, std::string name, std::chrono::milliseconds connect_timeout)
        : dsn_(std::move(dsn)), name_(std::move(name)), connect_timeout_(connect_timeout) {}

    /// Takes the lock when it is free; true while this session holds it. Throws pg errors
    /// (connection failures) after dropping the session.
    Task<bool> TryAcquire();
    /// Whether the session holding the lock is still alive (a round trip); false when it broke.
    Task<bool> StillHeld();
    /// Ends the session, which releases the lock.
    void Drop() { connection_.reset(); }
    bool Held() const { return connection_ != nullptr; }

private:
    std::string dsn_;
    std::string name_;
    std::chrono::milliseconds connect_timeout_;
    std::unique_ptr<pg::Connection> connection_;
};

}  // namespace keel::release_bot
