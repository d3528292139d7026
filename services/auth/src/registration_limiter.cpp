#include "registration_limiter.hpp"

#include <vector>

#include <keel/core/log.hpp>

namespace keel::auth_service {

// KEYS: address key. ARGV: window ms, limit. The ms until the window resets when at the
// limit (not counted), else counts and returns 0.
constexpr const char* kScript = R"(
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[2]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then return ttl end
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return tonumber(ARGV[1])
end
if redis.call('INCR', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 0)";

RegistrationLimiter::RegistrationLimiter(std::shared_ptr<redis::Client> redis, int per_ip,
                                         std::chrono::seconds window)
    : redis_(std::move(redis)), per_ip_(per_ip), window_(window) {}

Task<std::chrono::milliseconds> RegistrationLimiter::Attempt(std::string ip) {
    std::vector<std::string> keys{"auth:register:ip:" + ip};
    std::vector<std::string> args{std::to_string(window_.count() * 1000), std::to_string(per_ip_)};
    try {
        auto reply = co_await redis_->Eval(kScript, std::move(keys), std::move(args));
        co_return std::chrono::milliseconds(reply.integer);
    } catch (const redis::ConnectionError& e) {
        log::Warn("registration limiter unavailable; allowing", {{"error", e.what()}});
        co_return std::chrono::milliseconds(0);
    }
}

}  // namespace keel::auth_service
