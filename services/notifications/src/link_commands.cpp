#include "link_commands.hpp"

namespace keel::notifications {
namespace {

std::string_view Trim(std::string_view text) {
    const auto begin = text.find_first_not_of(" \t\r\n");
    if (begin == std::string_view::npos) return {};
    const auto end = text.find_last_not_of(" \t\r\n");
    return text.substr(begin, end - begin + 1);
}

}  // namespace

bool LooksLikeLinkToken(std::string_view text) {
    if (text.size() != 43) return false;
    for (const char c : text) {
        const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok) return false;
    }
    return true;
}

BotCommand ReadBotCommand(const telegram::Message& message) {
    BotCommand command;
    if (message.chat_type != "private" || message.text.empty()) return command;
    command.kind = BotCommand::Kind::kHelp;
    const std::string_view text = Trim(message.text);
    const auto space = text.find_first_of(" \t");
    const std::string_view head = text.substr(0, space);
    if (head != "/start" && !head.starts_with("/start@")) return command;
    if (space == std::string_view::npos) return command;  // a bare /start: say how to link
    const std::string_view payload = Trim(text.substr(space));
    if (payload.empty() || payload.find_first_of(" \t") != std::string_view::npos) return command;
    if (!LooksLikeLinkToken(payload)) {
        command.kind = BotCommand::Kind::kNotAToken;
        return command;
    }
    command.kind = BotCommand::Kind::kLink;
    command.token = std::string(payload);
    return command;
}

}  // namespace keel::notifications
