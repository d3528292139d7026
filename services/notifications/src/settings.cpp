#include "settings.hpp"

namespace keel::notifications {

Settings ReadSettings(core::EnvConfig& config) {
    Settings s;
    s.tokens = service::ReadTokenSettings(config);
    s.telegram.api_base = config.String("TELEGRAM_API_BASE", "https://api.telegram.org");
    s.telegram.bot_token = config.Secret("TELEGRAM_BOT_TOKEN");
    s.sender.batch = static_cast<int>(config.Int("NOTIFY_BATCH", 20, 1, 1000));
    return s;
}

void ThrowOnProblems(const Settings& settings) {
    const auto problems = CheckTelegramSettings(settings.telegram);
    if (!problems.empty()) throw core::ConfigError(problems);
}

}  // namespace keel::notifications
