#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "hashing_pool.hpp"
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
    /// Counts one attempt of the client IP on the account before the password is checked;
    /// how long to wait when the IP or the (account, IP) pair is at its limit (0: allowed).
    std::function<Task<std::chrono::milliseconds>(const std::string& ip, const std::string& email)>
        reserve_attempt;
    /// Takes back a reserved attempt that succeeded (`succeeded`) or was never checked, so
    /// that only failures count. Never throws.
    std::function<Task<void>(const std::string& ip, const std::string& email, bool succeeded)>
        release_attempt;
    std::function<Task<std::optional<User>>(const std::string& email)> find_user;
    /// Checks a password against an argon2id hash: slow, so it runs on `hashing`.
    std::function<bool(const std::string& hash, const std::string& password)> verify_password;
    /// A new refresh token in a new family.
    std::function<Task<std::string>(const std::string& user_id)> issue_refresh_token;
    std::function<auth::SigningKey()> signing_key;
    /// Login's own hashing pool (registration has another).
    std::shared_ptr<HashingPool> hashing;
    Settings settings;
};

/// The functions of LoginDeps as auth runs them.
LoginDeps LoginDepsOf(std::shared_ptr<LoginLimiter> limiter, std::shared_ptr<UserStore> users,
                      std::shared_ptr<RefreshTokenStore> refresh_tokens,
                      std::shared_ptr<KeyRing> keys, std::shared_ptr<HashingPool> hashing,
                      Settings settings);

struct LoginOutcome {
    enum class Kind {
        kSignedIn,          ///< tokens issued
        kThrottled,         ///< too many attempts: retry after retry_after
        kWrongCredentials,  ///< no such account, or another password
        kBusy,              ///< the hashing pool is full: retry shortly
    };
    Kind kind = Kind::kWrongCredentials;
    std::chrono::milliseconds retry_after{0};
    SessionTokens tokens;
};

/// Logs `email` (normalised) in with `password`: reserves an attempt and refuses it while
/// the client IP, or this IP on this account, is at its failure limit; verifies the
/// password on the hashing pool, against DummyPasswordHash() when no account has this
/// email, so that the time taken does not tell which emails are registered; then issues
/// a refresh token (a new family) and an access token. Only a failed check stays counted:
/// a success, a full hashing pool (kBusy) or an exception gives the attempt back.
/// `deps` must outlive the call.
Task<LoginOutcome> AttemptLogin(const LoginDeps& deps, std::string email, std::string password,
                                std::string client_ip);

/// The hash an unknown account's password is checked against: made on first use, which
/// is slow (argon2id), so call it off the io threads.
const std::string& DummyPasswordHash();

}  // namespace keel::auth_service
