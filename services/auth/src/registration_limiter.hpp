#pragma once
#include <chrono>
#include <memory>
#include <string>

#include <keel/redis/client.hpp>

namespace keel::auth_service {

/// Registrations per client address in a fixed window, counted in Redis (shared by every
/// auth instance): each one costs an argon2id hash and makes an account, so one address
/// may not make them in bulk. When Redis is down it lets registrations through (logged);
/// the bounded registration hashing pool still caps the work. Thread-safe.
class RegistrationLimiter final {
public:
    RegistrationLimiter(std::shared_ptr<redis::Client> redis, int per_ip,
                        std::chrono::seconds window);

    /// Counts one registration of `ip`; how long to wait when it is over the limit
    /// (0: allowed). Refused attempts are not counted.
    Task<std::chrono::milliseconds> Attempt(std::string ip);

private:
    std::shared_ptr<redis::Client> redis_;
    int per_ip_;
    std::chrono::seconds window_;
};

}  // namespace keel::auth_service
