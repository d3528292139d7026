#include "wiring.hpp"

#include <algorithm>

#include <keel/core/log.hpp>

#include "vm_rates.hpp"

namespace keel::release_bot {
namespace {

Task<void> Send(std::shared_ptr<telegram::Client> client, std::int64_t chat_id,
                std::optional<std::int64_t> thread_id, std::string html) {
    telegram::SendOptions options;
    options.parse_mode = "HTML";
    options.message_thread_id = thread_id;
    using Kind = telegram::SendOutcome::Kind;
    for (int attempt = 1;; ++attempt) {
        auto outcome = co_await client->SendMessage(chat_id, html, options);
        if (outcome.kind == Kind::kSent) co_return;
        if (outcome.kind == Kind::kRejected || attempt == 3) {
            log::Warn("reply not delivered", {{"chat_id", chat_id}, {"error", outcome.error}});
            co_return;
        }
        const auto wait =
            outcome.kind == Kind::kRetryAfter
                ? std::min<std::chrono::milliseconds>(outcome.retry_after, std::chrono::seconds(30))
                : std::chrono::milliseconds(500 * attempt);
        asio::steady_timer timer(co_await asio::this_coro::executor, wait);
        co_await timer.async_wait(asio::use_awaitable);
    }
}

}  // namespace

BotOptions MakeBotOptions(const Settings& settings) {
    BotOptions o;
    o.ops_chat_id = settings.ops_chat_id;
    o.release_thread_id = settings.release_thread_id;
    o.bot_username = settings.bot_username;
    o.deploy_hint = settings.deploy_hint;
    o.native = !settings.stack_socket.empty();
    o.release_deadline = settings.release_timeout;
    return o;
}

SendMessage TelegramSender(const std::shared_ptr<telegram::Client>& client) {
    return [client](std::int64_t chat_id, std::optional<std::int64_t> thread_id, std::string html) {
        return Send(client, chat_id, thread_id, std::move(html));
    };
}

ErrorRates VictoriaMetricsRates(const std::shared_ptr<http::Client>& client,
                                const std::string& vm_url) {
    if (vm_url.empty()) return {};
    return [client, vm_url] { return QueryErrorRates(client, vm_url); };
}

}  // namespace keel::release_bot
