#include "settings.hpp"

namespace keel::notifications {

Settings ReadSettings(core::EnvConfig& config) {
    Settings s;
    s.tokens = service::ReadTokenSettings(config);
    s.telegram.api_base = config.String("TELEGRAM_API_BASE", "https://api.telegram.org");
    s.telegram.bot_token = config.Secret("TELEGRAM_BOT_TOKEN");
    s.sender.batch = static_cast<int>(config.Int("NOTIFY_BATCH", 20, 1, 1000));
    s.account_url = config.String("ACCOUNT_URL", "");
    while (!s.account_url.empty() && s.account_url.back() == '/') s.account_url.pop_back();
    if (!s.account_url.empty() && !s.account_url.starts_with("http://"))
        config.AddProblem("ACCOUNT_URL='" + s.account_url + "' is not an http:// URL");
    s.poll.long_poll = std::chrono::seconds(config.Int("TELEGRAM_POLL_TIMEOUT_S", 10, 1, 50));
    s.poll.lease = config.Millis("TELEGRAM_POLL_LEASE_MS", s.poll.lease);
    s.poll.deadline = s.telegram.deadline;
    // A long poll must end while the lease surely holds, with time left to renew it.
    const auto least = s.poll.long_poll + s.poll.deadline + std::chrono::seconds(2);
    if (s.poll.lease < least)
        config.AddProblem(
            "TELEGRAM_POLL_LEASE_MS must be at least TELEGRAM_POLL_TIMEOUT_S + 7 s (" +
            std::to_string(least.count()) + " ms)");
    return s;
}

void ThrowOnProblems(const Settings& settings) {
    const auto problems = telegram::CheckSettings(settings.telegram);
    if (!problems.empty()) throw core::ConfigError(problems);
}

}  // namespace keel::notifications
