#pragma once
#include <memory>
#include <string>

#include <keel/http/client.hpp>
#include <keel/telegram/client.hpp>

#include "bot.hpp"
#include "settings.hpp"

namespace keel::release_bot {

/// The Bot's options from the settings (native when a control socket is configured).
BotOptions MakeBotOptions(const Settings& settings);

/// Sends HTML through the ops bot: up to 3 attempts for transient failures and flood control
/// (waiting as Telegram asks, at most 30 s), then a logged give-up: a lost announcement must not
/// stop a release's bookkeeping.
SendMessage TelegramSender(const std::shared_ptr<telegram::Client>& client);

/// Error rates from VictoriaMetrics at `vm_url`; an empty function without one.
ErrorRates VictoriaMetricsRates(const std::shared_ptr<http::Client>& client,
                                const std::string& vm_url);

}  // namespace keel::release_bot
