#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <keel/http/client.hpp>
#include <keel/resilience/downstream.hpp>

namespace keel::notifications {

struct TelegramSettings {
    std::string api_base = "https://api.telegram.org";  // TELEGRAM_API_BASE, no trailing '/'
    std::string bot_token;                              // TELEGRAM_BOT_TOKEN
    std::chrono::milliseconds deadline{5000};           // per sendMessage call
};

/// What became of one sendMessage call.
struct SendOutcome {
    enum class Kind {
        kSent,        // 200: Telegram has the message
        kRetryAfter,  // 429: flood control; try again after retry_after
        kRejected,    // 400, 403: this message will never go (bad chat, bot blocked)
        kTransient,   // 5xx, other statuses, network errors, deadline: try again later
    };
    Kind kind = Kind::kTransient;
    std::optional<std::int64_t> message_id;  // kSent, when Telegram said
    std::chrono::seconds retry_after{0};     // kRetryAfter
    std::string error;                       // for the delivery's last_error
};

/// Classifies Telegram's answer to sendMessage: status and JSON body
/// ({"ok":true,"result":{"message_id":..}} or {"ok":false,"error_code":..,
/// "description":..,"parameters":{"retry_after":..}}). `retry_after_header` is the
/// Retry-After header, used when the body does not say.
SendOutcome ClassifySendMessageReply(unsigned status, std::string_view body,
                                     std::string_view retry_after_header = {});

/// The Telegram Bot API's sendMessage over keel's HTTP client, behind a circuit breaker
/// and bulkhead (resilience::Downstream "telegram", one attempt per call: the sender retries
/// by its own schedule). While the breaker is open a send is a kRetryAfter outcome for the
/// breaker's wait, so an outage of Telegram does not spend a message's attempts. The client
/// speaks plain http only: in production TELEGRAM_API_BASE names an http proxy of the Bot
/// API; tests and the local stack use the fake (tests/fakes/telegram). Thread-safe.
class TelegramClient final {
public:
    TelegramClient(std::shared_ptr<resilience::Downstream> telegram, TelegramSettings settings);

    /// Never throws for delivery failures: those are outcomes. Error texts never
    /// contain the bot token.
    Task<SendOutcome> SendMessage(std::int64_t chat_id, const std::string& text);
    /// True when the base is https, which the HTTP client cannot reach.
    bool NeedsProxy() const;

private:
    std::string Redact(std::string text) const;

    std::shared_ptr<resilience::Downstream> telegram_;
    TelegramSettings settings_;
    std::string url_;
};

/// The policies for calls to the Bot API: a timeout of `settings.deadline`, one attempt.
resilience::DownstreamOptions TelegramDownstreamOptions(const TelegramSettings& settings);

/// Problems with the settings (empty when fine), in EnvConfig's wording.
std::vector<std::string> CheckTelegramSettings(const TelegramSettings& settings);

}  // namespace keel::notifications
