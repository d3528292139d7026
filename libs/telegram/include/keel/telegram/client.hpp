#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <keel/core/asio.hpp>
#include <keel/http/client.hpp>
#include <keel/resilience/downstream.hpp>
#include <keel/telegram/replies.hpp>

namespace keel::telegram {

struct Settings {
    std::string api_base = "https://api.telegram.org";  // e.g. TELEGRAM_API_BASE, no trailing '/'
    std::string bot_token;                              // e.g. TELEGRAM_BOT_TOKEN, OPS_BOT_TOKEN
    std::chrono::milliseconds deadline{5000};  // per sendMessage; added to a long poll's timeout
};

/// sendMessage's optional parameters.
struct SendOptions {
    std::string parse_mode;                         // "HTML", "MarkdownV2"; empty: plain text
    std::optional<std::int64_t> message_thread_id;  // a forum supergroup's topic
    bool disable_notification = false;              // arrives silently
};

/// The Telegram Bot API over keel's HTTP client, plain http only: in production the base
/// names an http proxy of the Bot API; tests and the local stack use the fake
/// (tests/fakes/telegram). Thread-safe; never throws for delivery failures (those are
/// outcomes) and no error text contains the bot token.
///
/// - sendMessage goes through `send` (a resilience::Downstream built from
///   DownstreamOptions(settings): circuit breaker, bulkhead, one attempt per call; the caller
///   retries by its own schedule). While the breaker is open a send is a kRetryAfter outcome
///   for the breaker's wait, so an outage of Telegram does not spend a message's attempts.
/// - getUpdates goes straight through `poll` (an http::Client) with a deadline of the long
///   poll's timeout plus settings.deadline: a long poll is meant to hang, which a breaker
///   would count as slow calls. Only one poller per bot token may run (Telegram answers a
///   second one with 409: kConflict).
class Client final {
public:
    Client(std::shared_ptr<resilience::Downstream> send, std::shared_ptr<http::Client> poll,
           Settings settings);
    /// A client that only sends (GetUpdates reports kRejected "no poll client").
    Client(std::shared_ptr<resilience::Downstream> send, Settings settings)
        : Client(std::move(send), nullptr, std::move(settings)) {}

    /// sendMessage. Parameters by value: the coroutine keeps them.
    Task<SendOutcome> SendMessage(std::int64_t chat_id, std::string text, SendOptions options);
    Task<SendOutcome> SendMessage(std::int64_t chat_id, std::string text) {
        return SendMessage(chat_id, std::move(text), SendOptions{});
    }

    /// getUpdates: updates with update_id >= offset (which confirms every earlier one), at
    /// most `limit` (1..100), waiting up to `long_poll_timeout` for the first.
    Task<UpdatesOutcome> GetUpdates(std::int64_t offset, std::chrono::seconds long_poll_timeout,
                                    int limit = 100);

    /// True when the base is https, which the HTTP client cannot reach.
    bool NeedsProxy() const;

private:
    std::string Redact(std::string text) const;

    std::shared_ptr<resilience::Downstream> send_;
    std::shared_ptr<http::Client> poll_;
    Settings settings_;
    std::string base_;  // api_base + "/bot" + token
};

/// The policies for sendMessage calls: a timeout of `settings.deadline`, one attempt, named
/// `name` (the metric label: "telegram", "ops_telegram").
resilience::DownstreamOptions DownstreamOptions(const Settings& settings,
                                                std::string name = "telegram");

/// Problems with the settings (empty when fine), in EnvConfig's wording, naming the
/// variables they came from. Never echoes the token.
std::vector<std::string> CheckSettings(const Settings& settings,
                                       std::string_view base_variable = "TELEGRAM_API_BASE",
                                       std::string_view token_variable = "TELEGRAM_BOT_TOKEN");

}  // namespace keel::telegram
