#pragma once
#include <memory>

#include <keel/http/router.hpp>

#include "hashing_pool.hpp"
#include "key_ring.hpp"
#include "login.hpp"
#include "refresh_token_store.hpp"
#include "registration_limiter.hpp"
#include "settings.hpp"
#include "user_store.hpp"

namespace keel::auth_service {

/// Everything auth's handlers use. Owned by main; outlives the server.
struct AuthContext {
    Settings settings;
    std::shared_ptr<KeyRing> keys;
    std::shared_ptr<UserStore> users;
    std::shared_ptr<RefreshTokenStore> refresh_tokens;
    LoginDeps login;  ///< holds login's own hashing pool
    std::shared_ptr<RegistrationLimiter> registrations;
    /// Registration's argon2id runs here, off the io threads and apart from login's.
    std::shared_ptr<HashingPool> register_hashing;
    std::shared_ptr<bus::Bus> bus;
};

/// register, login, refresh, logout, JWKS.
http::Router MakeRouter(const std::shared_ptr<AuthContext>& ctx);

/// Creates the admin account from AUTH_ADMIN_EMAIL / AUTH_ADMIN_PASSWORD when no
/// admin exists yet (first start); a no-op afterwards.
Task<void> EnsureAdmin(AuthContext& ctx);

}  // namespace keel::auth_service
