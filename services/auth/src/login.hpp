#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/thread_pool.hpp>

#include "key_ring.hpp"
#include "login_limiter.hpp"
#include "refresh_token_store.hpp"
#include "session_tokens.hpp"
#include "settings.hpp"
#include "user_store.hpp"

namespace keel::auth_service {

/// What AttemptLogin uses, as functions so that its unit test can stand in for Redis,
/// PostgreSQL and argon2id; LoginDepsOf wires them to auth's components.
struct LoginDeps {
    /// Counts one attempt of the client IP on the account; how long to wait when either
    /// is over its limit (0: allowed).
    std::function<Task<std::chrono::milliseconds>(const std::string& ip, const std::string& email)>
        count_attempt;
    std::function<Task<std::optional<User>>(const std::string& email)> find_user;
    /// Checks a password against an argon2id hash: slow, so it runs on `hashing`.
    std::function<bool(const std::string& hash, const std::string& password)> verify_password;
    /// A new refresh token in a new family.
    std::function<Task<std::string>(const std::string& user_id)> issue_refresh_token;
    std::function<auth::SigningKey()> signing_key;
    std::shared_ptr<asio::thread_pool> hashing;
    Settings settings;
};

/// The functions of LoginDeps as auth runs them.
LoginDeps LoginDepsOf(std::shared_ptr<LoginLimiter> limiter, std::shared_ptr<UserStore> users,
                      std::shared_ptr<RefreshTokenStore> refresh_tokens,
                      std::shared_ptr<KeyRing> keys, std::shared_ptr<asio::thread_pool> hashing,
                      Settings settings);

struct LoginOutcome {
    enum class Kind {
        kSignedIn,          ///< tokens issued
        kThrottled,         ///< too many attempts: retry after retry_after
        kWrongCredentials,  ///< no such account, or another password
    };
    Kind kind = Kind::kWrongCredentials;
    std::chrono::milliseconds retry_after{0};
    SessionTokens tokens;
};

/// Logs `email` (normalised) in with `password`: counts the attempt and refuses it while
/// the client IP or the account is over its limit; verifies the password on the hashing
/// pool, against DummyPasswordHash() when no account has this email, so that the time
/// taken does not tell which emails are registered; then issues a refresh token (a new
/// family) and an access token. `deps` must outlive the call.
Task<LoginOutcome> AttemptLogin(const LoginDeps& deps, std::string email, std::string password,
                                std::string client_ip);

/// The hash an unknown account's password is checked against: made on first use, which
/// is slow (argon2id), so call it off the io threads.
const std::string& DummyPasswordHash();

}  // namespace keel::auth_service
