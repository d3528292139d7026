#pragma once
#include <chrono>
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
};

Settings ReadSettings(core::EnvConfig& config);

}  // namespace keel::auth_service
