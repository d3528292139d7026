#include "link_poller.hpp"

#include <keel/core/log.hpp>
#include <keel/telemetry/metrics.hpp>

#include "link_commands.hpp"

namespace keel::notifications {
namespace {

using UpdatesKind = telegram::UpdatesOutcome::Kind;

telemetry::Counter& Claims(const char* outcome) {
    return telemetry::DefaultRegistry().GetCounter(
        "keel_telegram_link_claims_total",
        "Link tokens from /start handed to account, by what became of them",
        {{"outcome", outcome}});
}

}  // namespace

LinkPoller::LinkPoller(std::shared_ptr<PollLease> lease, std::shared_ptr<telegram::Client> telegram,
                       ClaimLink claim, PollOptions options)
    : lease_(std::move(lease)),
      telegram_(std::move(telegram)),
      claim_(std::move(claim)),
      options_(options) {}

Task<void> LinkPoller::Tick() {
    if (stopping_ || std::chrono::steady_clock::now() < resume_at_) co_return;
    const bool held = co_await lease_->Renew();
    if (held != polling_) {
        log::Info(held ? "polling the bot's updates" : "no longer polling the bot's updates",
                  {{"holder", lease_->Holder()}});
        polling_ = held;
        offset_ = 0;  // a new holder starts from whatever Telegram has not had confirmed
    }
    // The whole call must end while the lease surely holds, or two pollers could overlap.
    if (!held || !lease_->HoldsFor(options_.long_poll + options_.deadline)) co_return;
    const auto polled = co_await telegram_->GetUpdates(offset_, options_.long_poll, options_.batch);
    switch (polled.kind) {
        case UpdatesKind::kOk:
            break;
        case UpdatesKind::kRetryAfter:
            PauseAfter("telegram asked to wait", polled.error,
                       std::chrono::duration_cast<std::chrono::milliseconds>(polled.retry_after));
            co_return;
        case UpdatesKind::kConflict:
            PauseAfter("another poller holds the bot (a second deployment, or a webhook?)",
                       polled.error, options_.pause);
            co_return;
        case UpdatesKind::kRejected:
        case UpdatesKind::kTransient:
            PauseAfter("getUpdates failed", polled.error, options_.pause);
            co_return;
    }
    const std::int64_t before = offset_;
    for (const auto& update : polled.updates) {
        if (stopping_) break;
        const bool handled = co_await Handle(update);
        if (!handled) break;
        offset_ = std::max(offset_, update.update_id + 1);
    }
    // Confirms what was handled now rather than with the next long poll, so that a holder
    // that stops in between does not leave it to be handled twice.
    if (offset_ != before && !stopping_) {
        const std::chrono::seconds no_wait{0};
        co_await telegram_->GetUpdates(offset_, no_wait, 1);
    }
}

Task<bool> LinkPoller::Handle(const telegram::Update& update) {
    if (!update.message) co_return true;
    const auto& message = *update.message;
    const BotCommand command = ReadBotCommand(message);
    if (command.kind == BotCommand::Kind::kIgnore) co_return true;
    if (command.kind == BotCommand::Kind::kHelp) {
        co_await Reply(message.chat_id, kHelpReply);
        co_return true;
    }
    if (command.kind == BotCommand::Kind::kNotAToken) {
        Claims("refused").Inc();
        co_await Reply(message.chat_id, kRefusedReply);
        co_return true;
    }
    const LinkReply reply = co_await claim_(command.token, message.chat_id, update.update_id);
    if (reply.kind == LinkReply::Kind::kFailed) {
        Claims("failed").Inc();
        PauseAfter("account could not take a link token; retrying", reply.error, options_.pause);
        co_return false;
    }
    const bool linked = reply.kind == LinkReply::Kind::kLinked;
    Claims(linked ? "linked" : "refused").Inc();
    log::Info("telegram link token handed over",
              {{"outcome", reply.outcome}, {"update_id", update.update_id}});
    co_await Reply(message.chat_id, linked ? kLinkedReply : kRefusedReply);
    co_return true;
}

Task<void> LinkPoller::Reply(std::int64_t chat_id, std::string_view text) {
    const auto sent = co_await telegram_->SendMessage(chat_id, std::string(text));
    // Not retried: the user sees no answer and can send the link again; the link itself (or
    // its refusal) stands either way.
    if (sent.kind != telegram::SendOutcome::Kind::kSent)
        log::Warn("bot reply not sent", {{"chat_id", chat_id}, {"error", sent.error}});
}

void LinkPoller::PauseAfter(std::string_view what, const std::string& error,
                            std::chrono::milliseconds pause) {
    const auto now = std::chrono::steady_clock::now();
    resume_at_ = now + pause;
    if (now - last_warning_ < std::chrono::seconds(10)) return;
    last_warning_ = now;
    log::Warn(std::string(what), {{"error", error}});
}

Task<void> LinkPoller::Stop() {
    if (stopping_.exchange(true)) co_return;
    co_await lease_->Release();
}

}  // namespace keel::notifications
