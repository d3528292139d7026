#pragma once
#include <string>

#include <keel/core/config.hpp>
#include <keel/service/app.hpp>

#include "sender.hpp"
#include "telegram.hpp"

namespace keel::notifications {

/// notifications' own settings (README.md lists them with their defaults).
struct Settings {
    service::TokenSettings tokens;
    TelegramSettings telegram;
    SenderOptions sender;
};

/// Reads them; problems go to `config` except those of the Telegram settings'
/// content, which ThrowOnProblems reports after EnvConfig::Finish.
Settings ReadSettings(core::EnvConfig& config);
/// Throws core::ConfigError when TELEGRAM_API_BASE or TELEGRAM_BOT_TOKEN is malformed.
void ThrowOnProblems(const Settings& settings);

}  // namespace keel::notifications
