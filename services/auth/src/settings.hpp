#pragma once
#include <chrono>
#include <cstddef>
#include <string>

#include <keel/core/config.hpp>

namespace keel::auth_service {

/// auth's own settings (README.md lists them with their defaults).
struct Settings {
    std::string issuer;
    std::string audience;
    std::chrono::seconds access_ttl{900};
    std::chrono::seconds refresh_ttl{30 * 24 * 3600};
    std::chrono::hours key_rotation{30 * 24};
    std::string admin_email;
    std::string admin_password;
    int login_limit_per_ip = 30;
    int login_limit_per_account = 10;
    std::chrono::seconds login_window{60};
    int register_limit_per_ip = 20;
    std::chrono::seconds register_window{3600};
    /// argon2id threads and jobs (running + waiting) for login verification...
    std::size_t login_hash_threads = 2;
    std::size_t login_hash_jobs = 64;
    /// ...and, apart, for registration hashing, so registrations cannot starve logins.
    std::size_t register_hash_threads = 1;
    std::size_t register_hash_jobs = 8;
};

Settings ReadSettings(core::EnvConfig& config);

}  // namespace keel::auth_service
