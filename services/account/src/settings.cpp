#include "settings.hpp"

namespace keel::account {

LinkSettings ReadLinkSettings(core::EnvConfig& config) {
    LinkSettings s;
    s.bot_username = config.String("TELEGRAM_BOT_USERNAME", s.bot_username);
    // Telegram's rule for bot usernames: 5 to 32 of [A-Za-z0-9_].
    const auto& name = s.bot_username;
    if (name.size() < 5 || name.size() > 32 ||
        name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
            std::string::npos)
        config.AddProblem("TELEGRAM_BOT_USERNAME='" + name +
                          "' is not a bot username (5 to 32 letters, digits or '_', no '@')");
    s.ttl = std::chrono::seconds(config.Int("TELEGRAM_LINK_TTL_S", s.ttl.count(), 30, 86'400));
    return s;
}

std::string DeepLink(const LinkSettings& settings, const std::string& token) {
    return "https://t.me/" + settings.bot_username + "?start=" + token;
}

}  // namespace keel::account
