#pragma once
#include <memory>

#include <boost/asio/thread_pool.hpp>

#include <keel/http/router.hpp>

#include "key_ring.hpp"
#include "login.hpp"
#include "refresh_token_store.hpp"
#include "settings.hpp"
#include "user_store.hpp"

namespace keel::auth_service {

/// Everything auth's handlers use. Owned by main; outlives the server.
struct AuthContext {
    Settings settings;
    std::shared_ptr<KeyRing> keys;
    std::shared_ptr<UserStore> users;
    std::shared_ptr<RefreshTokenStore> refresh_tokens;
    LoginDeps login;
    /// argon2id runs here, off the io threads.
    std::shared_ptr<asio::thread_pool> hashing;
    std::shared_ptr<bus::Bus> bus;
};

/// register, login, refresh, logout, JWKS.
http::Router MakeRouter(const std::shared_ptr<AuthContext>& ctx);

/// Creates the admin account from AUTH_ADMIN_EMAIL / AUTH_ADMIN_PASSWORD when no
/// admin exists yet (first start); a no-op afterwards.
Task<void> EnsureAdmin(AuthContext& ctx);

}  // namespace keel::auth_service
