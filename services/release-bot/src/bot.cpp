#include "bot.hpp"

#include <keel/core/log.hpp>

#include "replies.hpp"

namespace keel::release_bot {
namespace {

AuditRequest Asked(const telegram::Message& m, const Command& c) {
    AuditRequest r;
    r.chat_id = m.chat_id;
    r.user_id = m.from_id;
    r.username = m.from_username;
    r.command = c.kind == Command::Kind::kRollback ? "rollback" : "release";
    r.service = c.service;
    return r;
}

}  // namespace

std::string Who(const telegram::Message& m) {
    if (!m.from_username.empty()) return "@" + m.from_username;
    if (m.from_id) return "user " + std::to_string(*m.from_id);
    return "chat " + std::to_string(m.chat_id);
}

Bot::Bot(BotOptions options, AllowList allowed, std::shared_ptr<AuditStore> audit,
         std::shared_ptr<StackControl> stack, SendMessage send, ErrorRates error_rates)
    : options_(std::move(options)),
      allowed_(std::move(allowed)),
      audit_(std::move(audit)),
      stack_(std::move(stack)),
      send_(std::move(send)),
      error_rates_(std::move(error_rates)) {}

Task<void> Bot::Reply(const telegram::Message& to, std::string html) {
    co_await send_(to.chat_id, to.message_thread_id, std::move(html));
}

Task<void> Bot::Announce(const telegram::Message& asked, std::string html) {
    const bool from_topic = asked.chat_id == options_.ops_chat_id &&
                            asked.message_thread_id == options_.release_thread_id;
    if (!from_topic) co_await Reply(asked, html);
    co_await send_(options_.ops_chat_id, options_.release_thread_id, std::move(html));
}

Task<void> Bot::Handle(telegram::Message message) {
    const auto command = ParseCommand(message.text, options_.bot_username);
    using Kind = Command::Kind;
    if (command.kind == Kind::kIgnore) co_return;
    if (!allowed_.Allows(message.chat_id)) {
        log::Warn("command from a chat not allowed",
                  {{"chat_id", message.chat_id}, {"who", Who(message)}});
        if (command.kind == Kind::kRelease || command.kind == Kind::kRollback)
            co_await audit_->Record(Asked(message, command), "refused", "chat not allowed");
        co_await Reply(message, "⛔ This chat (" + std::to_string(message.chat_id) +
                                    ") may not command the release bot: nothing was done. An "
                                    "operator can add it to RELEASE_BOT_ALLOWED_CHATS.");
        co_return;
    }
    switch (command.kind) {
        case Kind::kHelp: {
            // named first: GCC 12 mishandles ?: temporaries in a co_await's full-expression
            std::string text = EscapeHtml(HelpText());
            if (!command.error.empty()) text = EscapeHtml(command.error) + "\n\n" + text;
            co_await Reply(message, std::move(text));
            break;
        }
        case Kind::kUsage:
            co_await Reply(message, EscapeHtml(command.error));
            break;
        case Kind::kStatus:
            co_await Status(std::move(message));
            break;
        case Kind::kHistory:
            co_await History(std::move(message));
            break;
        case Kind::kRelease:
        case Kind::kRollback:
            co_await Roll(std::move(message), command);
            break;
        case Kind::kIgnore:
            break;
    }
}

Task<void> Bot::Status(telegram::Message message) {
    boost::json::object request;
    request["cmd"] = "ps";
    request["metrics"] = true;
    auto reply = co_await stack_->Call(std::move(request), options_.status_deadline);
    if (!reply.reachable) {
        std::string text = "keel-stack cannot be asked: " + EscapeHtml(reply.error);
        if (!options_.native) text += "\n" + EscapeHtml(options_.deploy_hint);
        co_await Reply(message, std::move(text));
        co_return;
    }
    std::map<std::string, double> rates;
    if (error_rates_) rates = co_await error_rates_();
    co_await Reply(message, FormatStatus(reply.result, rates));
}

Task<void> Bot::History(telegram::Message message) {
    auto entries = co_await audit_->Recent(10);
    co_await Reply(message, FormatHistory(entries));
}

Task<void> Bot::Refuse(telegram::Message message, Command command, std::string why) {
    co_await audit_->Record(Asked(message, command), "refused", why);
    co_await Reply(message, "⛔ " + EscapeHtml(why));
}

Task<void> Bot::Roll(telegram::Message message, Command command) {
    const std::string verb = command.kind == Command::Kind::kRollback ? "rollback" : "release";
    if (!options_.native) {
        co_await Refuse(std::move(message), command,
                        "/" + verb +
                            " works only where keel-stack runs the services (natively). "
                            "Here: " +
                            options_.deploy_hint);
        co_return;
    }
    if (command.service == "release-bot") {
        co_await Refuse(std::move(message), command,
                        "the bot does not " + verb + " itself: run tools/stack/keel-stack " + verb +
                            " release-bot");
        co_return;
    }
    const auto id = co_await audit_->Begin(Asked(message, command));
    if (!id) {
        co_await Reply(message, "⛔ A release or rollback of " + EscapeHtml(command.service) +
                                    " is already running: nothing was started.");
        co_return;
    }
    const auto who = Who(message);
    const std::string doing = verb == "rollback" ? "Rolling back " : "Releasing ";
    std::string started = "🚀 " + doing + "<b>" + EscapeHtml(command.service) +
                          "</b>, one instance at a time (by " + EscapeHtml(who) + ")…";
    co_await Announce(message, std::move(started));
    log::Info("release started", {{"service", command.service}, {"command", verb}, {"who", who}});
    boost::json::object request;
    request["cmd"] = verb;
    request["service"] = command.service;
    RollOutcome outcome;
    bool threw = false;
    try {
        auto reply = co_await stack_->Call(std::move(request), options_.release_deadline);
        if (reply.reachable) {
            outcome = ReadRollOutcome(reply.result);
        } else {
            outcome.outcome = "failed";
            outcome.detail = reply.error;
        }
    } catch (const std::exception& e) {
        threw = true;
        outcome.outcome = "failed";
        outcome.detail = e.what();
    }
    if (threw) log::Error("release call failed", {{"service", command.service}});
    co_await audit_->Finish(*id, outcome.outcome, outcome.from_version, outcome.to_version,
                            outcome.detail);
    log::Info("release ended", {{"service", command.service}, {"outcome", outcome.outcome}});
    co_await Announce(message, FormatOutcome(verb, command.service, who, outcome));
}

}  // namespace keel::release_bot
