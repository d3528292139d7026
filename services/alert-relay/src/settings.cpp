#include "settings.hpp"

namespace keel::alert_relay {
namespace {

constexpr std::int64_t kMaxChatId = 9'999'999'999'999;  // Telegram's ids fit in 52 bits
constexpr std::int64_t kWeek = 7LL * 24 * 3600;

}  // namespace

Settings ReadSettings(core::EnvConfig& config) {
    Settings s;
    s.telegram.api_base = config.String("TELEGRAM_API_BASE", "https://api.telegram.org");
    s.telegram.bot_token = config.Secret("OPS_BOT_TOKEN");
    // A missing token is reported by Secret already.
    if (!s.telegram.bot_token.empty()) {
        for (auto& problem :
             telegram::CheckSettings(s.telegram, "TELEGRAM_API_BASE", "OPS_BOT_TOKEN"))
            config.AddProblem(std::move(problem));
    }
    s.chat_id = config.Int("OPS_CHAT_ID", std::nullopt, -kMaxChatId, kMaxChatId);
    if (s.chat_id == 0) config.AddProblem("OPS_CHAT_ID must not be 0");

    std::vector<std::string> problems;
    s.relay.threads = ThreadMap::Parse(config.String("ALERT_THREADS", ""), problems);
    for (auto& problem : problems) config.AddProblem(std::move(problem));
    s.relay.send_attempts = static_cast<int>(config.Int("ALERT_SEND_ATTEMPTS", 3, 1, 10));

    s.ledger.dedupe_ttl =
        std::chrono::seconds(config.Int("ALERT_DEDUPE_TTL_S", 4LL * 3600, 1, kWeek));
    s.ledger.flap_window =
        std::chrono::seconds(config.Int("ALERT_FLAP_WINDOW_S", 3600, 1, 24LL * 3600));
    s.ledger.flap_max = config.Int("ALERT_FLAP_MAX", 6, 1, 1000);
    return s;
}

}  // namespace keel::alert_relay
