#include "login_limiter.hpp"

#include <vector>

#include <keel/auth/crypto.hpp>
#include <keel/core/log.hpp>

namespace keel::auth_service {
namespace {

// KEYS: address key, account-and-address key. ARGV: window ms, address limit, account limit.
// Refuses without counting when a key is at its limit (returns the ms until its window
// resets); else counts on both and returns 0.
constexpr const char* kReserveScript = R"(
local wait = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      redis.call('PEXPIRE', key, ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('PEXPIRE', key, ARGV[1]) end
end
return 0)";

// KEYS as above. ARGV[1]: '1' when the attempt succeeded (forget the address's failures
// on the account). Never below zero: a window may have reset since the reservation.
constexpr const char* kReleaseScript = R"(
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[2])
elseif tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
  redis.call('DECR', KEYS[2])
end
return 0)";

std::vector<std::string> Keys(const std::string& ip, const std::string& account) {
    return {"auth:login:ip:" + ip, "auth:login:account:" + auth::Sha256Hex(account) + ":" + ip};
}

}  // namespace

LoginLimiter::LoginLimiter(std::shared_ptr<redis::Client> redis, int per_ip, int per_account,
                           std::chrono::seconds window)
    : redis_(std::move(redis)), per_ip_(per_ip), per_account_(per_account), window_(window) {}

Task<std::chrono::milliseconds> LoginLimiter::Reserve(std::string ip, std::string account) {
    std::vector<std::string> args{std::to_string(window_.count() * 1000), std::to_string(per_ip_),
                                  std::to_string(per_account_)};
    auto keys = Keys(ip, account);
    try {
        auto reply = co_await redis_->Eval(kReserveScript, std::move(keys), std::move(args));
        co_return std::chrono::milliseconds(reply.integer);
    } catch (const redis::ConnectionError& e) {
        log::Warn("login limiter unavailable; allowing", {{"error", e.what()}});
        co_return std::chrono::milliseconds(0);
    }
}

Task<void> LoginLimiter::Release(std::string ip, std::string account, bool succeeded) {
    std::vector<std::string> args{succeeded ? "1" : "0"};
    auto keys = Keys(ip, account);
    try {
        co_await redis_->Eval(kReleaseScript, std::move(keys), std::move(args));
    } catch (const std::exception& e) {
        log::Warn("login limiter: could not release an attempt", {{"error", e.what()}});
    }
}

}  // namespace keel::auth_service
