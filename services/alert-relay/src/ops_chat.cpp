#include "ops_chat.hpp"

namespace keel::alert_relay {
namespace {

SendResult::Kind KindOf(telegram::SendOutcome::Kind kind) {
    using In = telegram::SendOutcome::Kind;
    using Out = SendResult::Kind;
    switch (kind) {
        case In::kSent:
            return Out::kSent;
        case In::kRetryAfter:
            return Out::kRetryAfter;
        case In::kRejected:
            return Out::kRejected;
        case In::kTransient:
            return Out::kTransient;
    }
    return Out::kTransient;
}

Task<SendResult> Send(std::shared_ptr<telegram::Client> client, std::int64_t chat_id,
                      OutgoingMessage message) {
    telegram::SendOptions options;
    options.parse_mode = "HTML";
    options.message_thread_id = message.thread_id;
    const auto outcome =
        co_await client->SendMessage(chat_id, std::move(message.html), std::move(options));
    SendResult result;
    result.kind = KindOf(outcome.kind);
    result.retry_after = outcome.retry_after;
    result.error = outcome.error;
    co_return result;
}

}  // namespace

SendFn OpsChatSender(std::shared_ptr<telegram::Client> client, std::int64_t chat_id) {
    return [client = std::move(client), chat_id](OutgoingMessage message) {
        return Send(client, chat_id, std::move(message));
    };
}

}  // namespace keel::alert_relay
