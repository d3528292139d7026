#pragma once
#include <optional>
#include <string>
#include <string_view>

#include <keel/telegram/replies.hpp>

namespace keel::notifications {

/// What the bot does with a user's message.
struct BotCommand {
    enum class Kind {
        kIgnore,  // not a private chat, or no text: nothing to answer
        kLink,    // "/start <token>": hand the token to account
        kHelp,    // anything else in a private chat: say how to link
        // "/start <something that is no token>": refused here. Sent to account, it would be a
        // 422 that the poller takes for account failing, and the update would block every later
        // one until it was gone.
        kNotAToken,
    };
    Kind kind = Kind::kIgnore;
    std::string token;  // kLink
};

/// The shape of account's link tokens: 256 bits as unpadded base64url (43 characters).
bool LooksLikeLinkToken(std::string_view text);

/// Reads "/start <token>" (also "/start@<bot> <token>", as Telegram sends it when the bot is
/// named) in a private chat. Groups are ignored: a link is for the user's own chat.
BotCommand ReadBotCommand(const telegram::Message& message);

/// The replies in the chat.
inline constexpr std::string_view kLinkedReply =
    "Linked: keel will send your order notifications to this chat.";
inline constexpr std::string_view kRefusedReply =
    "This link is invalid or expired, or has been used already. Ask for a new one in your keel "
    "profile and open it within 10 minutes.";
inline constexpr std::string_view kHelpReply =
    "Hello! To get your keel order notifications here, ask for a Telegram link in your keel "
    "profile and open it: it brings you back to this chat.";

}  // namespace keel::notifications
