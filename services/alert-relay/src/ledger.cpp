#include "ledger.hpp"

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

namespace keel::alert_relay {
namespace {

constexpr std::size_t kMaxLocal = 10'000;
constexpr int kMarkAttempts = 3;

// KEYS: flap set, suppressed counter, dedupe key. ARGV: now ms, window ms, max, member,
// dedupe ttl ms, claim value, suppressed ttl ms. Returns {admitted, counted, suppressed}.
constexpr const char* kAdmit = R"lua(
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then
  return {1, 0, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local n = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
  if redis.call('GET', KEYS[3]) == ARGV[6] then
    redis.call('SET', KEYS[3], 'throttled', 'PX', ARGV[5])
  end
  return {0, 0, n}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, 1, tonumber(redis.call('GET', KEYS[2]) or '0')}
)lua";

// KEYS: dedupe key, suppressed counter. ARGV: dedupe ttl ms, suppressed reported.
constexpr const char* kMarkSent = R"lua(
redis.call('SET', KEYS[1], 'sent', 'PX', ARGV[1])
local reported = tonumber(ARGV[2])
if reported > 0 and redis.call('DECRBY', KEYS[2], reported) <= 0 then
  redis.call('DEL', KEYS[2])
end
return 1
)lua";

// KEYS: dedupe key, flap set. ARGV: claim value, member, "1" when the member was counted.
constexpr const char* kRelease = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[3] == '1' then redis.call('ZREM', KEYS[2], ARGV[2]) end
return 1
)lua";

std::string Ms(std::chrono::milliseconds d) { return std::to_string(d.count()); }

std::int64_t Element(const redis::Reply& reply, std::size_t i) {
    return reply.elements.size() > i ? reply.elements[i].integer : 0;
}

}  // namespace

AlertLedger::AlertLedger(std::shared_ptr<redis::Client> redis, LedgerOptions options,
                         WallClock clock)
    : redis_(std::move(redis)), options_(std::move(options)), clock_(std::move(clock)) {}

std::string AlertLedger::DedupeKey(const std::string& dedupe_id) const {
    return options_.prefix + "dedupe:" + dedupe_id;
}

std::string AlertLedger::Key(const char* kind, const std::string& fingerprint) const {
    return options_.prefix + kind + ":" + fingerprint;
}

bool AlertLedger::SentLocally(const std::string& dedupe_id) {
    std::lock_guard lock(mutex_);
    const auto it = sent_locally_.find(dedupe_id);
    if (it == sent_locally_.end()) return false;
    if (it->second > std::chrono::steady_clock::now()) return true;
    sent_locally_.erase(it);
    return false;
}

void AlertLedger::RememberLocally(const std::string& dedupe_id) {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(sent_locally_, [now](const auto& entry) { return entry.second <= now; });
    if (sent_locally_.size() >= kMaxLocal) sent_locally_.erase(sent_locally_.begin());
    sent_locally_[dedupe_id] = now + options_.dedupe_ttl;
}

Task<AlertLedger::Claim> AlertLedger::TryClaim(std::string dedupe_id) {
    Claim claim;
    if (SentLocally(dedupe_id)) {
        claim.outcome = ClaimOutcome::kDone;
        co_return claim;
    }
    const auto key = DedupeKey(dedupe_id);
    const auto value = "claim:" + Uuid::V7().ToString();
    // Twice: a key that expires between SET NX and GET is free again.
    for (int round = 0; round < 2; ++round) {
        std::vector<std::string> command{"SET", key, value, "NX", "PX", Ms(options_.claim_ttl)};
        const auto set = co_await redis_->Command(std::move(command));
        if (set.type == redis::Reply::Type::kStatus) {
            claim.outcome = ClaimOutcome::kClaimed;
            claim.value = value;
            co_return claim;
        }
        auto held = co_await redis_->Get(key);
        if (!held) continue;
        claim.outcome = held->starts_with("claim:") ? ClaimOutcome::kInFlight : ClaimOutcome::kDone;
        co_return claim;
    }
    claim.outcome = ClaimOutcome::kInFlight;
    co_return claim;
}

Task<AlertLedger::Admission> AlertLedger::Admit(std::string fingerprint, std::string dedupe_id,
                                                std::string claim) {
    const auto now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_().time_since_epoch()).count();
    const auto counter_ttl = options_.dedupe_ttl + options_.flap_window;
    std::vector<std::string> keys{Key("flap", fingerprint), Key("suppressed", fingerprint),
                                  DedupeKey(dedupe_id)};
    std::vector<std::string> args{std::to_string(now_ms),
                                  Ms(options_.flap_window),
                                  std::to_string(options_.flap_max),
                                  dedupe_id,
                                  Ms(options_.dedupe_ttl),
                                  claim,
                                  Ms(counter_ttl)};
    const auto reply = co_await redis_->Eval(kAdmit, std::move(keys), std::move(args));
    Admission admission;
    admission.admitted = Element(reply, 0) == 1;
    admission.counted = Element(reply, 1) == 1;
    admission.suppressed = Element(reply, 2);
    co_return admission;
}

Task<bool> AlertLedger::MarkSent(std::string fingerprint, std::string dedupe_id,
                                 std::int64_t reported) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    std::string error;
    for (int attempt = 1; attempt <= kMarkAttempts; ++attempt) {
        try {
            std::vector<std::string> keys{DedupeKey(dedupe_id), Key("suppressed", fingerprint)};
            std::vector<std::string> args{Ms(options_.dedupe_ttl), std::to_string(reported)};
            co_await redis_->Eval(kMarkSent, std::move(keys), std::move(args));
            co_return true;
        } catch (const std::exception& e) {
            error = e.what();
        }
        timer.expires_after(std::chrono::milliseconds(100) * attempt);
        co_await timer.async_wait(asio::use_awaitable);
    }
    RememberLocally(dedupe_id);
    log::Error("alert sent but not recorded in Redis: another instance may send it again",
               {{"dedupe_id", dedupe_id}, {"error", error}});
    co_return false;
}

Task<void> AlertLedger::Release(std::string fingerprint, std::string dedupe_id, Claim claim,
                                bool counted) {
    try {
        std::vector<std::string> keys{DedupeKey(dedupe_id), Key("flap", fingerprint)};
        std::vector<std::string> args{claim.value, dedupe_id, counted ? "1" : "0"};
        co_await redis_->Eval(kRelease, std::move(keys), std::move(args));
    } catch (const std::exception& e) {
        log::Warn("could not release an alert's claim; it expires by itself",
                  {{"dedupe_id", dedupe_id}, {"error", e.what()}});
    }
}

}  // namespace keel::alert_relay
