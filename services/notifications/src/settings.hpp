#pragma once
#include <string>

#include <keel/core/config.hpp>
#include <keel/service/app.hpp>

#include <keel/telegram/client.hpp>
#include "link_poller.hpp"
#include "sender.hpp"

namespace keel::notifications {

/// notifications' own settings (README.md lists them with their defaults).
struct Settings {
    service::TokenSettings tokens;
    telegram::Settings telegram;
    SenderOptions sender;
    /// ACCOUNT_URL: base of account's /internal routes; empty: the bot does not poll (no links).
    std::string account_url;
    PollOptions poll;
};

/// Reads them; problems go to `config` except those of the Telegram settings'
/// content, which ThrowOnProblems reports after EnvConfig::Finish.
Settings ReadSettings(core::EnvConfig& config);
/// Throws core::ConfigError when TELEGRAM_API_BASE or TELEGRAM_BOT_TOKEN is malformed.
void ThrowOnProblems(const Settings& settings);

}  // namespace keel::notifications
