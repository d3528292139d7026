#include "audit_store.hpp"

namespace keel::release_bot {
namespace {

pg::Param OptionalId(const std::optional<std::int64_t>& id) { return id ? pg::P(*id) : pg::Null(); }

}  // namespace

// ON CONFLICT DO NOTHING against the partial unique index: a running release of the service is
// an outcome (no row back), not an exception.
constexpr std::string_view kBegin = R"(
INSERT INTO release_log (chat_id, user_id, username, command, service)
VALUES ($1::bigint, $2::bigint, $3, $4, $5)
ON CONFLICT (service) WHERE outcome = 'running' DO NOTHING
RETURNING id)";

Task<std::optional<std::int64_t>> AuditStore::Begin(AuditRequest request) {
    auto rows = co_await pool_->Execute(kBegin, request.chat_id, OptionalId(request.user_id),
                                        request.username, request.command, request.service);
    if (rows.Rows() == 0) co_return std::nullopt;
    co_return rows.Int(0, 0);
}

constexpr std::string_view kFinish = R"(
UPDATE release_log SET outcome = $2, from_version = $3, to_version = $4, detail = $5,
                       finished_at = now()
WHERE id = $1::bigint)";

Task<void> AuditStore::Finish(std::int64_t id, std::string outcome, std::string from_version,
                              std::string to_version, std::string detail) {
    co_await pool_->Execute(kFinish, id, outcome, from_version, to_version, detail);
}

constexpr std::string_view kRecord = R"(
INSERT INTO release_log (chat_id, user_id, username, command, service, outcome, detail,
                         finished_at)
VALUES ($1::bigint, $2::bigint, $3, $4, $5, $6, $7, now()))";

Task<void> AuditStore::Record(AuditRequest request, std::string outcome, std::string detail) {
    co_await pool_->Execute(kRecord, request.chat_id, OptionalId(request.user_id), request.username,
                            request.command, request.service, outcome, detail);
}

constexpr std::string_view kRecent = R"(
SELECT id, chat_id, user_id, username, command, service, from_version, to_version, outcome,
       detail, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       coalesce(to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '')
FROM release_log ORDER BY started_at DESC, id DESC LIMIT $1::int)";

Task<std::vector<AuditEntry>> AuditStore::Recent(int limit) {
    auto rows = co_await pool_->Execute(kRecent, limit);
    std::vector<AuditEntry> out;
    for (int i = 0; i < rows.Rows(); ++i) {
        AuditEntry e;
        e.id = rows.Int(i, 0);
        e.request.chat_id = rows.Int(i, 1);
        if (!rows.IsNull(i, 2)) e.request.user_id = rows.Int(i, 2);
        e.request.username = std::string(rows.Text(i, 3));
        e.request.command = std::string(rows.Text(i, 4));
        e.request.service = std::string(rows.Text(i, 5));
        e.from_version = std::string(rows.Text(i, 6));
        e.to_version = std::string(rows.Text(i, 7));
        e.outcome = std::string(rows.Text(i, 8));
        e.detail = std::string(rows.Text(i, 9));
        e.started_at = std::string(rows.Text(i, 10));
        e.finished_at = std::string(rows.Text(i, 11));
        out.push_back(std::move(e));
    }
    co_return out;
}

constexpr std::string_view kInterrupt = R"(
UPDATE release_log SET outcome = 'interrupted', finished_at = now(),
       detail = 'the bot stopped before it heard the outcome: see keel-stack releases'
WHERE outcome = 'running')";

Task<std::int64_t> AuditStore::InterruptRunning() {
    auto result = co_await pool_->Execute(kInterrupt);
    co_return result.Affected();
}

}  // namespace keel::release_bot
