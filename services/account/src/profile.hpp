#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace keel::account {

/// Telegram chat ids are kept below 2^52 in magnitude (exact in JSON doubles).
inline constexpr std::int64_t kMaxChatIdMagnitude = (std::int64_t{1} << 52) - 1;
inline constexpr std::size_t kMaxDisplayName = 100;  // characters (code points)

struct Profile {
    std::string user_id;
    std::string email;
    std::string display_name;
    std::optional<std::int64_t> telegram_chat_id;
    std::int64_t updated_at_ms = 0;  // since the Unix epoch
};

/// The API's representation: {user_id, email, display_name, telegram_chat_id}.
boost::json::object ToJsonObject(const Profile& profile);
/// The account.profile_updated.v1 payload.
boost::json::object ToEventPayload(const Profile& profile);

/// A change of a profile. Absent fields are left as they are.
struct ProfilePatch {
    std::optional<std::string> display_name;
    bool set_telegram_chat = false;
    std::optional<std::int64_t> telegram_chat_id;  // nullopt with set_telegram_chat: unlink
    bool Empty() const { return !display_name && !set_telegram_chat; }
};

/// `text` without the spaces and tabs around it.
std::string_view TrimSpaces(std::string_view text);

/// Why `name` (already trimmed) cannot be a display name, "" when it can: it must be
/// 1 to 100 characters long and must not contain control characters.
std::string DisplayNameProblem(std::string_view name);

/// Why `chat_id` cannot be a linked Telegram chat, "" when it can (0 is no chat).
std::string TelegramChatProblem(std::int64_t chat_id);

/// The display name a new profile starts with: the email's local part, cut to 100 characters.
std::string DefaultDisplayName(std::string_view email);

/// Code points in valid UTF-8 text (continuation bytes are not counted).
std::size_t Utf8Length(std::string_view text);

}  // namespace keel::account
