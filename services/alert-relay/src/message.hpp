#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "alert.hpp"

namespace keel::alert_relay {

/// One Telegram message: HTML text (parse_mode HTML) for a thread of the ops chat.
struct OutgoingMessage {
    std::string html;
    std::optional<std::int64_t> thread_id;  // none: the chat itself
};

/// Escapes text for Telegram's HTML parse mode (&, <, >, ").
std::string EscapeHtml(std::string_view text);

/// Cuts `text` to at most `max_bytes` bytes on a UTF-8 character boundary, marking a cut
/// with an ellipsis (within the limit).
std::string TruncateUtf8(std::string_view text, std::size_t max_bytes);

/// The message for one state change of `alert`: its state, name, severity and service,
/// summary and description, when it started (and, resolved, how long it lasted), the other
/// labels and a link to its source; `suppressed` state changes not sent before (throttled
/// while flapping) are counted at the end. Every text from the alert is escaped, and each
/// part is bounded, so the message stays under Telegram's 4096 characters.
std::string FormatAlert(const Alert& alert, std::int64_t suppressed);

}  // namespace keel::alert_relay
