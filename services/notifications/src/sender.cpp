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

constexpr std::string_view kTakeDue = R"(
SELECT id, chat_id, text, attempts FROM deliveries
WHERE status = 'pending' AND next_attempt_at <= clock_timestamp()
ORDER BY next_attempt_at, id
LIMIT $1
FOR UPDATE SKIP LOCKED)";

constexpr std::string_view kMarkSent = R"(
UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = clock_timestamp(),
                      telegram_message_id = $2, last_error = NULL
WHERE id = $1)";

constexpr std::string_view kRetryLater = R"(
UPDATE deliveries SET attempts = attempts + 1, last_error = $3,
                      next_attempt_at = clock_timestamp() + $2::bigint * interval '1 millisecond'
WHERE id = $1)";

constexpr std::string_view kMarkFailed = R"(
UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = $2
WHERE id = $1)";

Task<int> DeliverySender::RunOnce() {
    int tried = 0;
    auto pass = [&](pg::Connection& c) -> Task<void> {
        auto rows = co_await c.Execute(kTakeDue, options_.batch);
        std::vector<Due> due;
        for (int i = 0; i < rows.Rows(); ++i) {
            due.push_back(Due{rows.Int(i, 0), rows.Int(i, 1), std::string(rows.Text(i, 2)),
                              static_cast<int>(rows.Int(i, 3))});
        }
        for (const auto& row : due) {
            ++tried;
            if (!co_await SendOne(c, row)) break;
        }
    };
    co_await pool_->Transaction(pass);
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
Task<bool> DeliverySender::SendOne(pg::Connection& c, const Due& row) {
    const SendOutcome outcome = co_await telegram_->SendMessage(row.chat_id, row.text);
    const int attempts = row.attempts + 1;
    using Kind = SendOutcome::Kind;
    switch (outcome.kind) {
        case Kind::kSent: {
            const pg::Param message_id =
                outcome.message_id ? pg::P(*outcome.message_id) : pg::Null();
            co_await c.Execute(kMarkSent, row.id, message_id);
            co_return true;
        }
        case Kind::kRejected:
            log::Warn("telegram refused a message",
                      {{"delivery_id", row.id}, {"error", outcome.error}});
            co_await c.Execute(kMarkFailed, row.id, outcome.error);
            co_return true;
        case Kind::kRetryAfter: {
            const std::int64_t wait_ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(outcome.retry_after).count();
            co_await c.Execute(kRetryLater, row.id, wait_ms, outcome.error);
            co_return false;
        }
        case Kind::kTransient:
            break;
    }
    if (attempts >= options_.max_attempts) {
        log::Warn("giving up on a message", {{"delivery_id", row.id},
                                             {"attempts", static_cast<std::int64_t>(attempts)},
                                             {"error", outcome.error}});
        co_await c.Execute(kMarkFailed, row.id, outcome.error);
    } else {
        const std::int64_t wait_ms = Backoff(attempts, options_).count();
        log::Info("message not sent; retrying later",
                  {{"delivery_id", row.id},
                   {"attempts", static_cast<std::int64_t>(attempts)},
                   {"error", outcome.error}});
        co_await c.Execute(kRetryLater, row.id, wait_ms, outcome.error);
    }
    co_return false;
}

}  // namespace keel::notifications
