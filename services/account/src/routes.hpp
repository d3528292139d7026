#pragma once
#include <memory>

#include <keel/http/router.hpp>

#include "profile_store.hpp"

namespace keel::account {

/// What account's handlers use. Owned by main; outlives the server.
struct AccountContext {
    std::shared_ptr<ProfileStore> profiles;
    std::shared_ptr<bus::Bus> bus;
};

/// The caller's profile (read, update) and the admin lookups.
http::Router MakeRouter(const std::shared_ptr<AccountContext>& ctx);

/// Reads a PATCH /api/account/me body {display_name?: 1..100 characters,
/// telegram_chat_id?: integer or null} strictly; throws HttpError 422 listing every
/// problem (415 or 400 from the request overload when the body is not a JSON object).
/// The display name is trimmed of surrounding spaces.
ProfilePatch ReadProfilePatch(const boost::json::object& body);
ProfilePatch ReadProfilePatch(const http::Request& request);

}  // namespace keel::account
