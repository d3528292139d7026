#pragma once
#include <chrono>
#include <memory>
#include <string>

#include <keel/redis/client.hpp>

namespace keel::auth_service {

/// Fixed-window login attempt limits per client IP and per account, counted in Redis
/// so that every auth instance shares them. When Redis is down the limiter lets
/// logins through (logged): availability of login outweighs throttling for a while.
class LoginLimiter final {
public:
    LoginLimiter(std::shared_ptr<redis::Client> redis, int per_ip, int per_account,
                 std::chrono::seconds window);

    /// Counts one attempt; returns how long to wait when over a limit (0: allowed).
    Task<std::chrono::milliseconds> Attempt(const std::string& ip, const std::string& account);

private:
    std::shared_ptr<redis::Client> redis_;
    int per_ip_;
    int per_account_;
    std::chrono::seconds window_;
};

}  // namespace keel::auth_service
