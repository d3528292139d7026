#include "settings.hpp"

#include <limits>

namespace keel::release_bot {

constexpr std::string_view kDeployHint =
    "docker compose: rebuild and roll the image (docker compose -f deploy/compose/app.yaml up -d "
    "--no-deps --build SERVICE); Kubernetes: kubectl -n keel set image / kubectl rollout undo "
    "deployment/SERVICE";

Settings ReadSettings(core::EnvConfig& config) {
    constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
    constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
    Settings s;
    s.telegram.api_base = config.String("TELEGRAM_API_BASE", "https://api.telegram.org");
    s.telegram.bot_token = config.Secret("OPS_BOT_TOKEN");
    for (auto& problem : telegram::CheckSettings(s.telegram, "TELEGRAM_API_BASE", "OPS_BOT_TOKEN"))
        config.AddProblem(std::move(problem));
    s.ops_chat_id = config.Int("OPS_CHAT_ID", std::nullopt, kMin, kMax);
    if (const auto thread = config.Int("RELEASE_THREAD_ID", 0, 0, kMax); thread != 0)
        s.release_thread_id = thread;
    const auto allowed = config.String("RELEASE_BOT_ALLOWED_CHATS", "");
    std::string error;
    if (auto list = AllowList::Parse(allowed, &error); !list)
        config.AddProblem("RELEASE_BOT_ALLOWED_CHATS: " + error);
    else if (list->Chats().empty() && s.ops_chat_id != 0)
        s.allowed = AllowList({s.ops_chat_id});
    else
        s.allowed = std::move(*list);
    s.bot_username = config.String("RELEASE_BOT_USERNAME", "");
    if (!s.bot_username.empty() && s.bot_username.front() == '@') s.bot_username.erase(0, 1);
    s.stack_socket = config.String("KEEL_STACK_SOCKET", "");
    s.deploy_hint = config.String("RELEASE_BOT_DEPLOY_HINT", std::string(kDeployHint));
    s.vm_url = config.String("VM_URL", "");
    while (!s.vm_url.empty() && s.vm_url.back() == '/') s.vm_url.pop_back();
    s.long_poll = std::chrono::seconds(config.Int("RELEASE_BOT_POLL_TIMEOUT_S", 25, 1, 50));
    s.lease_retry = config.Millis("RELEASE_BOT_LEASE_RETRY_MS", std::chrono::milliseconds(2000));
    s.release_timeout =
        std::chrono::seconds(config.Int("RELEASE_BOT_RELEASE_TIMEOUT_S", 900, 10, 86'400));
    return s;
}

}  // namespace keel::release_bot
