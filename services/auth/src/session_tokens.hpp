#pragma once
#include <chrono>
#include <string>

#include <keel/auth/jwt.hpp>

#include "settings.hpp"

namespace keel::auth_service {

/// What a client gets at login and at refresh.
struct SessionTokens {
    std::string access_token;  ///< a JWT signed with the active key
    std::string refresh_token;
    std::chrono::seconds expires_in{0};  ///< the access token's lifetime
};

/// Signs an access token for `user_id` with `role` (issuer, audience and lifetime from
/// `settings`, a fresh jti, issued now) and pairs it with `refresh_token`.
SessionTokens MakeSessionTokens(const Settings& settings, const auth::SigningKey& key,
                                const std::string& user_id, const std::string& role,
                                std::string refresh_token);

}  // namespace keel::auth_service
