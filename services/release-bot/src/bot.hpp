#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <keel/core/asio.hpp>
#include <keel/telegram/replies.hpp>

#include "allow_list.hpp"
#include "audit_store.hpp"
#include "command.hpp"
#include "stack_control.hpp"

namespace keel::release_bot {

/// Where the bot announces releases, and how it names itself.
struct BotOptions {
    std::int64_t ops_chat_id = 0;                   // OPS_CHAT_ID
    std::optional<std::int64_t> release_thread_id;  // RELEASE_THREAD_ID: its topic there
    std::string bot_username;                       // RELEASE_BOT_USERNAME, for /status@name
    std::string deploy_hint;  // what to say where keel-stack's socket is absent (compose, k8s)
    bool native = true;       // false: no control socket; /release and /rollback are refused
    std::chrono::milliseconds status_deadline{10'000};
    std::chrono::milliseconds release_deadline{15 * 60'000};
};

/// Sends one HTML message to a chat (and topic); delivery failures are the sender's to log.
using SendMessage = std::function<Task<void>(
    std::int64_t chat_id, std::optional<std::int64_t> thread_id, std::string html)>;
/// Every service's 5xx share from VictoriaMetrics (empty without it).
using ErrorRates = std::function<Task<std::map<std::string, double>>()>;

/// Answers one Telegram message: refuses chats not on the allow-list (recording attempts to
/// release), runs /status, /history, /release, /rollback through keel-stack's control socket and
/// the audit log, and announces releases in the ops chat's release topic. Thread-safe: several
/// messages may be handled at once (a /status while a release runs); the audit log and
/// keel-stack each refuse a second release of the same service.
class Bot final {
public:
    Bot(BotOptions options, AllowList allowed, std::shared_ptr<AuditStore> audit,
        std::shared_ptr<StackControl> stack, SendMessage send, ErrorRates error_rates);

    /// By value: the poller spawns it and forgets the update.
    Task<void> Handle(telegram::Message message);

private:
    Task<void> Reply(const telegram::Message& to, std::string html);
    Task<void> Status(telegram::Message message);
    Task<void> History(telegram::Message message);
    Task<void> Roll(telegram::Message message, Command command);
    Task<void> Refuse(telegram::Message message, Command command, std::string why);
    /// The release topic, and the asking chat when it asked from elsewhere.
    Task<void> Announce(const telegram::Message& asked, std::string html);

    BotOptions options_;
    AllowList allowed_;
    std::shared_ptr<AuditStore> audit_;
    std::shared_ptr<StackControl> stack_;
    SendMessage send_;
    ErrorRates error_rates_;
};

/// "@ann" or "user 42" or "chat -100…": how a message's author is named in replies and the log.
std::string Who(const telegram::Message& message);

}  // namespace keel::release_bot
