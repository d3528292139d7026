#pragma once
#include <memory>

#include <keel/http/router.hpp>

#include "profile_store.hpp"
#include "settings.hpp"
#include "telegram_link.hpp"

namespace keel::account {

/// What account's handlers use. Owned by main; outlives the server.
struct AccountContext {
    std::shared_ptr<ProfileStore> profiles;
    std::shared_ptr<bus::Bus> bus;
    std::shared_ptr<TelegramLinkStore> links;
    LinkSettings link_settings;
};

/// The caller's profile (read, update), Telegram links (issued to the user, claimed by
/// notifications over /internal with the service token) and the admin lookups.
http::Router MakeRouter(const std::shared_ptr<AccountContext>& ctx);

/// Reads a PATCH /api/account/me body {display_name?: 1..100 characters,
/// telegram_chat_id?: null} strictly; throws HttpError 400 when telegram_chat_id is anything
/// but null (a chat is linked only by proving it: POST /api/account/me/telegram-link), 422
/// listing every other problem (415 or 400 from the request overload when the body is not a
/// JSON object). The display name is trimmed of surrounding spaces.
ProfilePatch ReadProfilePatch(const boost::json::object& body);
ProfilePatch ReadProfilePatch(const http::Request& request);

/// The detail of the 400 for a PATCH that sets telegram_chat_id.
inline constexpr const char* kLinkByProving =
    "telegram_chat_id cannot be set directly: POST /api/account/me/telegram-link gives a one-time "
    "link (deep_link); open it in Telegram and press Start, and the bot links that chat. "
    "{\"telegram_chat_id\": null} unlinks";

/// A POST /internal/telegram-links/claim body {token, chat_id, update_id}.
struct LinkClaim {
    std::string token;
    std::int64_t chat_id = 0;
    std::int64_t update_id = 0;
};
/// Reads it strictly; throws HttpError 422 listing every problem.
LinkClaim ReadLinkClaim(const boost::json::object& body);

}  // namespace keel::account
