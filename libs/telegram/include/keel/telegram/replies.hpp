#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::telegram {

/// What became of one sendMessage call.
struct SendOutcome {
    enum class Kind {
        kSent,        // 200: Telegram has the message
        kRetryAfter,  // 429: flood control; try again after retry_after
        kRejected,    // 400, 403: this message will never go (bad chat, bot blocked, bad HTML)
        kTransient,   // 5xx, other statuses, network errors, deadline: try again later
    };
    Kind kind = Kind::kTransient;
    std::optional<std::int64_t> message_id;  // kSent, when Telegram said
    std::chrono::seconds retry_after{0};     // kRetryAfter
    std::string error;                       // for a log line or a delivery's last_error
};

/// A user's message, as far as keel reads it.
struct Message {
    std::int64_t message_id = 0;
    std::int64_t chat_id = 0;
    std::string chat_type;                          // "private", "group", "supergroup", "channel"
    std::optional<std::int64_t> message_thread_id;  // a forum topic
    std::optional<std::int64_t> from_id;            // absent for channel posts
    std::string from_username;                      // empty when the user has none
    std::string text;                               // empty for stickers, photos, ...
};

/// One update. Updates of kinds keel does not read (edited messages, callbacks, ...) carry
/// no message but still have to be confirmed by the next offset.
struct Update {
    std::int64_t update_id = 0;
    std::optional<Message> message;
};

/// What became of one getUpdates call.
struct UpdatesOutcome {
    enum class Kind {
        kOk,          // 200: `updates` (possibly none: the long poll ran out)
        kRetryAfter,  // 429: try again after retry_after
        kConflict,    // 409: another getUpdates poller (or a webhook) holds this bot
        kRejected,    // 401, 404: a wrong token or base; configuration, retrying will not help
        kTransient,   // 5xx, other statuses, network errors, deadline, unreadable body
    };
    Kind kind = Kind::kTransient;
    std::vector<Update> updates;  // kOk, in update_id order
    std::chrono::seconds retry_after{0};
    std::string error;
};

/// Classifies Telegram's answer to sendMessage: status and JSON body
/// ({"ok":true,"result":{"message_id":..}} or {"ok":false,"error_code":..,
/// "description":..,"parameters":{"retry_after":..}}). `retry_after_header` is the
/// Retry-After header, used when the body does not say.
SendOutcome ClassifySendMessageReply(unsigned status, std::string_view body,
                                     std::string_view retry_after_header = {});

/// Reads Telegram's answer to getUpdates ({"ok":true,"result":[Update...]}); a 200 whose body
/// is not that is kTransient. Messages without a chat are treated as no message.
UpdatesOutcome ParseGetUpdatesReply(unsigned status, std::string_view body,
                                    std::string_view retry_after_header = {});

/// The offset that confirms every update in `updates` (the largest update_id + 1), or
/// `current` when there is none newer.
std::int64_t NextOffset(const std::vector<Update>& updates, std::int64_t current);

}  // namespace keel::telegram
