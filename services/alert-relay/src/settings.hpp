#pragma once
#include <cstdint>
#include <string>

#include <keel/core/config.hpp>
#include <keel/telegram/client.hpp>

#include "ledger.hpp"
#include "relay.hpp"

namespace keel::alert_relay {

/// alert-relay's own settings (README.md lists them with their defaults); the common ones
/// (PORT, PG_DSN, REDIS_*, KEEL_SERVICE_TOKEN, ...) are read by service::ReadCommonSettings.
struct Settings {
    /// TELEGRAM_API_BASE [https://api.telegram.org], OPS_BOT_TOKEN (required, secret): the
    /// ops bot, shared with the release bot.
    telegram::Settings telegram;
    std::int64_t chat_id = 0;  // OPS_CHAT_ID (required): the ops chat (a forum supergroup)
    LedgerOptions ledger;      // ALERT_DEDUPE_TTL_S, ALERT_FLAP_WINDOW_S, ALERT_FLAP_MAX
    RelayOptions relay;        // ALERT_THREADS, ALERT_SEND_ATTEMPTS
};

/// Reads them; every problem (an ALERT_THREADS entry that is not NAME=ID, a token with
/// characters a bot token never has, ...) is recorded in `config` for EnvConfig::Finish.
Settings ReadSettings(core::EnvConfig& config);

}  // namespace keel::alert_relay
