#include "sender.hpp"

#include <vector>

#include <keel/core/log.hpp>

namespace keel::notifications {

std::chrono::milliseconds Backoff(int attempts, const SenderOptions& options) {
    auto wait = options.backoff_base;
    for (int i = 1; i < attempts && wait < options.backoff_max; ++i) wait *= 2;
    return std::min(wait, options.backoff_max);
}

struct DeliverySender::Due {
    std::int64_t id = 0;
    std::int64_t chat_id = 0;
    std::string text;
    int attempts = 0;  // before this try
};

// Claims one due delivery and commits the claim before the call to Telegram: two
// senders never take the same row, and a sender killed during the call leaves it
// 'sending' (see kGiveUpOnStaleSql) instead of sending it again on the next pass.
constexpr std::string_view kClaimDueSql = R"(
UPDATE deliveries SET status = 'sending', sending_since = clock_timestamp()
WHERE id = (SELECT id FROM deliveries
            WHERE status = 'pending' AND next_attempt_at <= clock_timestamp()
            ORDER BY next_attempt_at, id
            LIMIT 1
            FOR UPDATE SKIP LOCKED)
RETURNING id, chat_id, text, attempts)";

// A live sender settles a claim within the Telegram call's deadline; one older than a
// minute belongs to a sender that died during the call. Whether Telegram got it is
// unknown: not resending is what keeps a message from ever arriving twice.
constexpr std::string_view kGiveUpOnStaleSql = R"(
UPDATE deliveries SET status = 'unknown',
       last_error = 'the sender stopped during the Telegram call; not resent so that it never arrives twice'
WHERE status = 'sending' AND sending_since < clock_timestamp() - interval '60 seconds')";

constexpr std::string_view kMarkSentSql = R"(
UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = clock_timestamp(),
                      telegram_message_id = $2, last_error = NULL
WHERE id = $1)";

constexpr std::string_view kRetryLaterSql = R"(
UPDATE deliveries SET status = 'pending', attempts = attempts + 1, last_error = $3,
                      next_attempt_at = clock_timestamp() + $2::bigint * interval '1 millisecond'
WHERE id = $1)";

constexpr std::string_view kMarkFailedSql = R"(
UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = $2
WHERE id = $1)";

Task<int> DeliverySender::RunOnce() {
    co_await pool_->Execute(kGiveUpOnStaleSql);
    int tried = 0;
    while (tried < options_.batch) {
        auto rows = co_await pool_->Execute(kClaimDueSql);
        if (rows.Rows() == 0) break;
        const Due row{rows.Int(0, 0), rows.Int(0, 1), std::string(rows.Text(0, 2)),
                      static_cast<int>(rows.Int(0, 3))};
        ++tried;
        if (!co_await SendOne(row)) break;
    }
    co_return tried;
}

Task<void> DeliverySender::Tick() {
    std::string error;
    try {
        co_await RunOnce();
    } catch (const std::exception& e) {
        error = e.what();
    }
    if (error.empty()) co_return;
    // Ten passes a second would otherwise log ten lines a second through an outage.
    ++failed_passes_;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_failure_log_ < std::chrono::seconds(10)) co_return;
    log::Warn("sending pass failed", {{"error", error}, {"failed_passes", failed_passes_}});
    last_failure_log_ = now;
    failed_passes_ = 0;
}

// Records the outcome of sending `row`; false when the pass should stop here.
Task<bool> DeliverySender::SendOne(const Due& row) {
    const telegram::SendOutcome outcome = co_await telegram_->SendMessage(row.chat_id, row.text);
    using Kind = telegram::SendOutcome::Kind;
    switch (outcome.kind) {
        case Kind::kSent: {
            const pg::Param message_id =
                outcome.message_id ? pg::P(*outcome.message_id) : pg::Null();
            co_await pool_->Execute(kMarkSentSql, row.id, message_id);
            co_return true;
        }
        case Kind::kRejected:
            log::Warn("telegram refused a message",
                      {{"delivery_id", row.id}, {"error", outcome.error}});
            co_await pool_->Execute(kMarkFailedSql, row.id, outcome.error);
            co_return true;
        case Kind::kRetryAfter: {
            const std::int64_t wait_ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(outcome.retry_after).count();
            co_await pool_->Execute(kRetryLaterSql, row.id, wait_ms, outcome.error);
            co_return false;
        }
        case Kind::kTransient:
            break;
    }
    co_await RetryOrGiveUp(row, outcome);
    co_return false;
}

// A transient failure: pending again after the backoff, or failed at max_attempts.
Task<void> DeliverySender::RetryOrGiveUp(const Due& row, const telegram::SendOutcome& outcome) {
    const int attempts = row.attempts + 1;
    if (attempts >= options_.max_attempts) {
        log::Warn("giving up on a message", {{"delivery_id", row.id},
                                             {"attempts", static_cast<std::int64_t>(attempts)},
                                             {"error", outcome.error}});
        co_await pool_->Execute(kMarkFailedSql, row.id, outcome.error);
        co_return;
    }
    const std::int64_t wait_ms = Backoff(attempts, options_).count();
    log::Info("message not sent; retrying later",
              {{"delivery_id", row.id},
               {"attempts", static_cast<std::int64_t>(attempts)},
               {"error", outcome.error}});
    co_await pool_->Execute(kRetryLaterSql, row.id, wait_ms, outcome.error);
}

}  // namespace keel::notifications
