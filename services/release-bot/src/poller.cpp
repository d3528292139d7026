#include "poller.hpp"

#include <keel/core/log.hpp>
#include <keel/core/runtime.hpp>

namespace keel::release_bot {
namespace {

Task<void> Pause(std::chrono::milliseconds how_long) {
    asio::steady_timer timer(co_await asio::this_coro::executor, how_long);
    co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace

Poller::Poller(std::shared_ptr<telegram::Client> telegram, std::shared_ptr<Bot> bot,
               std::shared_ptr<AdvisoryLease> lease, std::shared_ptr<AuditStore> audit,
               std::chrono::seconds long_poll)
    : telegram_(std::move(telegram)),
      bot_(std::move(bot)),
      lease_(std::move(lease)),
      audit_(std::move(audit)),
      long_poll_(long_poll) {}

Task<void> Poller::RunWhileLeader() {
    if (!co_await lease_->TryAcquire()) co_return;
    leader_ = true;
    std::int64_t offset = 0;  // Telegram keeps what no poller confirmed
    bool failed = false;
    try {
        const auto interrupted = co_await audit_->InterruptRunning();
        log::Info("polling Telegram: this replica holds the lease", {{"interrupted", interrupted}});
        while (co_await lease_->StillHeld()) co_await PollOnce(offset);
    } catch (const std::exception& e) {
        log::Warn("polling stopped", {{"error", e.what()}});
        failed = true;
    }
    leader_ = false;
    lease_->Drop();
    if (failed) co_await Pause(std::chrono::seconds(1));
    log::Info("no longer polling Telegram");
}

Task<void> Poller::PollOnce(std::int64_t& offset) {
    auto executor = co_await asio::this_coro::executor;
    auto result = co_await telegram_->GetUpdates(offset, long_poll_);
    using Kind = telegram::UpdatesOutcome::Kind;
    switch (result.kind) {
        case Kind::kOk:
            for (auto& update : result.updates)
                if (update.message)
                    Spawn(executor, bot_->Handle(std::move(*update.message)),
                          "release-bot command");
            offset = telegram::NextOffset(result.updates, offset);
            break;
        case Kind::kRetryAfter:
            co_await Pause(result.retry_after);
            break;
        case Kind::kConflict:  // e.g. a webhook is set, or a bot outside this lease polls too
            log::Warn("another getUpdates poller holds the ops bot", {{"error", result.error}});
            co_await Pause(std::chrono::seconds(5));
            break;
        case Kind::kRejected:
            log::Error("Telegram refuses the ops bot's token or base", {{"error", result.error}});
            co_await Pause(std::chrono::seconds(30));
            break;
        case Kind::kTransient:
            log::Warn("getUpdates failed", {{"error", result.error}});
            co_await Pause(std::chrono::seconds(2));
            break;
    }
}

}  // namespace keel::release_bot
