#include "login_limiter.hpp"

#include <keel/core/log.hpp>

namespace keel::auth_service {

// KEYS: ip key, account key. ARGV: window ms, ip limit, account limit.
// Returns the milliseconds until the tighter window resets, or 0 when allowed.
constexpr const char* kScript = R"(
local wait = 0
for i, key in ipairs(KEYS) do
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
  if count > tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl > wait then wait = ttl end
  end
end
return wait)";

LoginLimiter::LoginLimiter(std::shared_ptr<redis::Client> redis, int per_ip, int per_account,
                           std::chrono::seconds window)
    : redis_(std::move(redis)), per_ip_(per_ip), per_account_(per_account), window_(window) {}

Task<std::chrono::milliseconds> LoginLimiter::Attempt(const std::string& ip,
                                                      const std::string& account) {
    std::vector<std::string> keys{"auth:login:ip:" + ip, "auth:login:account:" + account};
    std::vector<std::string> args{std::to_string(window_.count() * 1000), std::to_string(per_ip_),
                                  std::to_string(per_account_)};
    try {
        auto reply = co_await redis_->Eval(kScript, std::move(keys), std::move(args));
        co_return std::chrono::milliseconds(reply.integer);
    } catch (const redis::ConnectionError& e) {
        log::Warn("login limiter unavailable; allowing", {{"error", e.what()}});
        co_return std::chrono::milliseconds(0);
    }
}

}  // namespace keel::auth_service
