#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <keel/core/asio.hpp>
#include <keel/pg/pool.hpp>

namespace keel::release_bot {

/// Who asked for what (the start of an audit row).
struct AuditRequest {
    std::int64_t chat_id = 0;
    std::optional<std::int64_t> user_id;
    std::string username;
    std::string command;  // "release" | "rollback"
    std::string service;
};

/// One row of the audit log.
struct AuditEntry {
    std::int64_t id = 0;
    AuditRequest request;
    std::string from_version;
    std::string to_version;
    std::string outcome;  // running, released, rolled_back, failed, refused, unchanged, interrupted
    std::string detail;
    std::string started_at;   // UTC, ISO 8601 to the second
    std::string finished_at;  // empty while running
};

/// The audit log in release-bot's own database (table release_log). Thread-safe (the pool is).
class AuditStore final {
public:
    explicit AuditStore(std::shared_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

    /// Opens a 'running' row; nullopt when a release or rollback of that service is already
    /// running (at most one per service, enforced by a unique index).
    Task<std::optional<std::int64_t>> Begin(AuditRequest request);
    /// Ends row `id` with its outcome and versions. Parameters by value: the coroutine keeps them.
    Task<void> Finish(std::int64_t id, std::string outcome, std::string from_version,
                      std::string to_version, std::string detail);
    /// A row that starts and ends at once (e.g. a refused attempt).
    Task<void> Record(AuditRequest request, std::string outcome, std::string detail);
    /// The newest rows first, at most `limit`.
    Task<std::vector<AuditEntry>> Recent(int limit);
    /// Marks every 'running' row 'interrupted' (a bot that held the lease died mid-release;
    /// keel-stack finished or rolled it back without anyone to record it). Returns how many.
    Task<std::int64_t> InterruptRunning();

private:
    std::shared_ptr<pg::Pool> pool_;
};

}  // namespace keel::release_bot
