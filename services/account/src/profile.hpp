#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include <keel/http/json_body.hpp>

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

/// A PATCH /api/account/me body. Absent fields are left as they are.
struct ProfilePatch {
    std::optional<std::string> display_name;
    bool set_telegram_chat = false;
    std::optional<std::int64_t> telegram_chat_id;  // nullopt with set_telegram_chat: unlink
    bool Empty() const { return !display_name && !set_telegram_chat; }
};

/// Reads {display_name?: 1..100 characters, telegram_chat_id?: integer or null}
/// strictly; throws HttpError 422 listing every problem. The display name is trimmed
/// of surrounding spaces and must not contain control characters.
ProfilePatch ReadProfilePatch(const boost::json::object& body);
ProfilePatch ReadProfilePatch(const http::Request& request);

/// The display name a new profile starts with: the email's local part, cut to 100 characters.
std::string DefaultDisplayName(std::string_view email);

/// Code points in valid UTF-8 text (continuation bytes are not counted).
std::size_t Utf8Length(std::string_view text);

}  // namespace keel::account
