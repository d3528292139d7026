#pragma once
#include <chrono>
#include <memory>
#include <string>

#include <keel/redis/client.hpp>

namespace keel::auth_service {

/// Failed-login limits in Redis (so every auth instance shares them), in fixed windows:
/// - per client address, over all accounts (`per_ip`): one address cannot spray
///   guesses across many accounts;
/// - per account *and* client address (`per_account`): guesses at one account from one
///   address are bounded, while the owner, logging in from another address, is never
///   locked out by someone hammering the account with wrong passwords.
/// Only failures count. Reserve counts an attempt before its password is checked (so
/// that parallel attempts cannot all slip under the limit) and Release gives it back
/// when the attempt succeeded or was never checked; a success also clears that
/// address's failures on the account. Accounts are keyed by SHA-256, never in clear.
/// When Redis is down the limiter lets logins through (logged): availability of login
/// outweighs throttling for a while. Thread-safe.
class LoginLimiter final {
public:
    LoginLimiter(std::shared_ptr<redis::Client> redis, int per_ip, int per_account,
                 std::chrono::seconds window);

    /// Counts one attempt of `ip` on `account` unless either is already at its limit;
    /// returns how long to wait in that case (0: allowed and counted).
    Task<std::chrono::milliseconds> Reserve(std::string ip, std::string account);
    /// Takes back a reserved attempt: `succeeded` (the password matched) also forgets the
    /// address's earlier failures on the account. Never throws.
    Task<void> Release(std::string ip, std::string account, bool succeeded);

private:
    std::shared_ptr<redis::Client> redis_;
    int per_ip_;
    int per_account_;
    std::chrono::seconds window_;
};

}  // namespace keel::auth_service
