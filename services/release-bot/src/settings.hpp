#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <keel/core/config.hpp>
#include <keel/telegram/client.hpp>

#include "allow_list.hpp"

namespace keel::release_bot {

/// release-bot's own settings (README.md lists them with their defaults); the common ones
/// (PORT, PG_DSN, ...) are read by service::ReadCommonSettings.
struct Settings {
    /// TELEGRAM_API_BASE [https://api.telegram.org], OPS_BOT_TOKEN (required, secret): the ops bot.
    telegram::Settings telegram;
    /// OPS_CHAT_ID (required): the ops chat, where releases are announced.
    std::int64_t ops_chat_id = 0;
    /// RELEASE_THREAD_ID [none]: the release topic of the ops chat (a forum supergroup).
    std::optional<std::int64_t> release_thread_id;
    /// RELEASE_BOT_ALLOWED_CHATS [OPS_CHAT_ID]: chat ids, comma-separated, that may command it.
    AllowList allowed{{}};
    /// RELEASE_BOT_USERNAME [any]: the bot's @username, so that "/status@other_bot" is ignored.
    std::string bot_username;
    /// KEEL_STACK_SOCKET [none]: keel-stack's control socket (keel-stack exports it). Without it
    /// (docker compose, Kubernetes) /release and /rollback are refused with
    /// RELEASE_BOT_DEPLOY_HINT.
    std::string stack_socket;
    std::string deploy_hint;
    /// VM_URL [none]: VictoriaMetrics, for /status's error rates over 5 minutes.
    std::string vm_url;
    /// RELEASE_BOT_POLL_TIMEOUT_S [25]: getUpdates' long poll (1..50).
    std::chrono::seconds long_poll{25};
    /// RELEASE_BOT_LEASE_RETRY_MS [2000]: how often a replica without the lease tries to take it.
    std::chrono::milliseconds lease_retry{2000};
    /// RELEASE_BOT_RELEASE_TIMEOUT_S [900]: the longest a release may take before the bot stops
    /// waiting for keel-stack (which goes on and finishes it).
    std::chrono::seconds release_timeout{900};
};

/// Reads them; problems are recorded in `config` and reported by EnvConfig::Finish.
Settings ReadSettings(core::EnvConfig& config);

}  // namespace keel::release_bot
