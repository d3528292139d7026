#pragma once
#include <chrono>
#include <string>

#include <keel/core/config.hpp>

namespace keel::account {

/// How users link Telegram (README.md lists the variables with their defaults).
struct LinkSettings {
    std::string bot_username = "keel_fake_bot";  // TELEGRAM_BOT_USERNAME: t.me/<this>?start=
    std::chrono::seconds ttl{600};               // TELEGRAM_LINK_TTL_S
};

/// Reads them; problems go to `config`.
LinkSettings ReadLinkSettings(core::EnvConfig& config);

/// The deep link that opens the bot with "/start <token>".
std::string DeepLink(const LinkSettings& settings, const std::string& token);

}  // namespace keel::account
