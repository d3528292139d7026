#pragma once
#include <string>
#include <string_view>

namespace keel::release_bot {

/// What a chat message asks of the bot.
struct Command {
    enum class Kind {
        kIgnore,    // not a command (plain chat) or a command for another bot: no reply
        kHelp,      // /help, /start, or an unknown command (`error` says which)
        kStatus,    // /status
        kRelease,   // /release SERVICE
        kRollback,  // /rollback SERVICE
        kHistory,   // /history
        kUsage,     // a known command with wrong arguments (`error` says what is wrong)
    };
    Kind kind = Kind::kIgnore;
    std::string service;  // kRelease, kRollback
    std::string error;    // kHelp (unknown command), kUsage
};

/// Parses a message text: "/release catalog", "/status@keel_ops_bot". `bot_username` (without
/// '@'): a command addressed to another bot ("/status@other_bot") is kIgnore; empty accepts any
/// address. A service name is 1..63 of [a-z0-9-], starting with a letter.
Command ParseCommand(std::string_view text, std::string_view bot_username);

/// The reply to /help (HTML).
std::string HelpText();

}  // namespace keel::release_bot
