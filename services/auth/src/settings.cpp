#include "settings.hpp"

namespace keel::auth_service {

Settings ReadSettings(core::EnvConfig& config) {
    Settings s;
    s.issuer = config.String("JWT_ISSUER", "keel-auth");
    s.audience = config.String("JWT_AUDIENCE", "keel");
    s.access_ttl = std::chrono::seconds(config.Int("AUTH_ACCESS_TTL_S", 900, 10, 24LL * 3600));
    s.refresh_ttl = std::chrono::seconds(
        config.Int("AUTH_REFRESH_TTL_S", 30 * 24 * 3600, 60, 365LL * 24 * 3600));
    s.key_rotation =
        std::chrono::hours(config.Int("AUTH_KEY_ROTATION_HOURS", 30 * 24, 1, 365LL * 24));
    s.admin_email = config.String("AUTH_ADMIN_EMAIL", "admin@keel.local");
    s.admin_password = config.Secret("AUTH_ADMIN_PASSWORD", "");
    s.login_limit_per_ip = static_cast<int>(config.Int("LOGIN_LIMIT_PER_IP", 30, 1, 1'000'000));
    s.login_limit_per_account =
        static_cast<int>(config.Int("LOGIN_LIMIT_PER_ACCOUNT", 10, 1, 1'000'000));
    s.login_window = std::chrono::seconds(config.Int("LOGIN_LIMIT_WINDOW_S", 60, 1, 24LL * 3600));
    s.register_limit_per_ip =
        static_cast<int>(config.Int("REGISTER_LIMIT_PER_IP", 20, 1, 1'000'000));
    s.register_window =
        std::chrono::seconds(config.Int("REGISTER_LIMIT_WINDOW_S", 3600, 1, 24LL * 3600));
    auto size = [&config](const char* name, std::int64_t fallback, std::int64_t max) {
        return static_cast<std::size_t>(config.Int(name, fallback, 1, max));
    };
    s.login_hash_threads = size("AUTH_LOGIN_HASH_THREADS", 2, 64);
    s.login_hash_jobs = size("AUTH_LOGIN_HASH_QUEUE", 64, 100'000);
    s.register_hash_threads = size("AUTH_REGISTER_HASH_THREADS", 1, 64);
    s.register_hash_jobs = size("AUTH_REGISTER_HASH_QUEUE", 8, 100'000);
    return s;
}

}  // namespace keel::auth_service
