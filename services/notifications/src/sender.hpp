#pragma once
#include <chrono>
#include <cstdint>
#include <memory>

#include <keel/pg/pool.hpp>

#include <keel/telegram/client.hpp>

namespace keel::notifications {

struct SenderOptions {
    int batch = 20;        // NOTIFY_BATCH: rows per pass
    int max_attempts = 8;  // a transient failure on the 8th try fails the row
    std::chrono::milliseconds backoff_base{1000};       // wait after the first transient failure
    std::chrono::milliseconds backoff_max{5 * 60'000};  // doubling stops here
};

/// The wait after the `attempts`-th try failed transiently: base * 2^(attempts-1), capped.
std::chrono::milliseconds Backoff(int attempts, const SenderOptions& options);

/// Sends due pending deliveries, claiming rows one at a time (FOR UPDATE SKIP LOCKED),
/// so instances running side by side never send the same row. Each row is claimed ('sending',
/// committed) before the call and settled after it; a row left 'sending' by a sender killed
/// mid-call becomes 'unknown' after a minute and is not resent (at most once: Telegram has no
/// idempotency key to make a resend safe). Outcomes: 200 -> sent; 429 -> pending until
/// parameters.retry_after; 400/403 -> failed; anything else -> pending with exponential backoff,
/// failed at max_attempts. A 429 or transient failure ends the pass early: the rows after it stay
/// untouched for the next.
class DeliverySender final {
public:
    DeliverySender(std::shared_ptr<pg::Pool> pool, std::shared_ptr<telegram::Client> telegram,
                   SenderOptions options)
        : pool_(std::move(pool)), telegram_(std::move(telegram)), options_(options) {}

    /// One pass; returns how many rows it tried to send.
    Task<int> RunOnce();
    /// RunOnce for App::Every (one loop: never called concurrently). A failed pass (e.g.
    /// the database is down) is logged at most every 10 s with the number of failures.
    Task<void> Tick();

private:
    struct Due;
    Task<bool> SendOne(const Due& row);
    Task<void> RetryOrGiveUp(const Due& row, const telegram::SendOutcome& outcome);

    std::shared_ptr<pg::Pool> pool_;
    std::shared_ptr<telegram::Client> telegram_;
    SenderOptions options_;
    std::int64_t failed_passes_ = 0;
    std::chrono::steady_clock::time_point last_failure_log_{};
};

}  // namespace keel::notifications
