#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <keel/telegram/client.hpp>

#include "account_links.hpp"
#include "poll_lease.hpp"

namespace keel::notifications {

struct PollOptions {
    std::chrono::seconds long_poll{10};        // TELEGRAM_POLL_TIMEOUT_S
    std::chrono::milliseconds lease{30'000};   // TELEGRAM_POLL_LEASE_MS
    std::chrono::milliseconds deadline{5000};  // the Bot API call's own time beyond the poll
    int batch = 20;                            // updates per getUpdates
    std::chrono::milliseconds pause{5000};     // after a failed poll or hand-over
};

/// Hands a link token over to account (AccountLinks::Claim in production).
using ClaimLink =
    std::function<Task<LinkReply>(std::string token, std::int64_t chat_id, std::int64_t update_id)>;

/// The user bot's side of linking: long-polls getUpdates while this instance holds the poll
/// lease (one poller per bot: Telegram answers a second with 409), hands "/start <token>" from
/// private chats to account and answers in the chat ("linked", or that the link is invalid or
/// expired); any other private message gets how to link. An update is confirmed (the next
/// offset) only once handled: when account cannot be reached, it stays with Telegram and is
/// handled on a later round, by this or the next holder. A handled update that was not yet
/// confirmed when an instance died is handled again by the next holder: account answers the
/// same update the same way, so at worst the chat gets the answer twice.
/// Tick: one caller at a time (App::Every); Stop: any thread.
class LinkPoller final {
public:
    LinkPoller(std::shared_ptr<PollLease> lease, std::shared_ptr<telegram::Client> telegram,
               ClaimLink claim, PollOptions options);

    /// One round: renew the lease; if held long enough, one long poll and its updates.
    Task<void> Tick();
    /// No more rounds; the lease is given up so that another instance polls at once.
    Task<void> Stop();

    std::int64_t OffsetForTest() const { return offset_; }

private:
    /// False: stop this batch here (account unreachable), the update is retried later.
    Task<bool> Handle(const telegram::Update& update);
    Task<void> Reply(std::int64_t chat_id, std::string_view text);
    void PauseAfter(std::string_view what, const std::string& error,
                    std::chrono::milliseconds pause);

    std::shared_ptr<PollLease> lease_;
    std::shared_ptr<telegram::Client> telegram_;
    ClaimLink claim_;
    PollOptions options_;
    std::int64_t offset_ = 0;
    bool polling_ = false;
    std::atomic<bool> stopping_{false};
    std::chrono::steady_clock::time_point resume_at_{};
    std::chrono::steady_clock::time_point last_warning_{};
};

}  // namespace keel::notifications
