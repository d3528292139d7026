#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <keel/redis/client.hpp>

namespace keel::alert_relay {

/// Wall-clock time (throttling windows are shared by every instance); tests pass their own.
using WallClock = std::function<std::chrono::system_clock::time_point()>;

struct LedgerOptions {
    std::string prefix = "alert-relay:";
    /// ALERT_DEDUPE_TTL_S: how long a sent state change is not sent again.
    std::chrono::milliseconds dedupe_ttl{std::chrono::hours(4)};
    /// How long a claim holds while its message is being sent; an instance that dies with a
    /// claim holds that state change back this long (Alertmanager then retries).
    std::chrono::milliseconds claim_ttl{std::chrono::seconds(30)};
    /// ALERT_FLAP_WINDOW_S / ALERT_FLAP_MAX: at most `flap_max` state changes of one alert
    /// (fingerprint) are sent per `flap_window`; the rest are counted and reported.
    std::chrono::milliseconds flap_window{std::chrono::hours(1)};
    std::int64_t flap_max = 6;
};

/// What the relay remembers in Redis, shared by its instances:
///   <prefix>dedupe:<fingerprint>:<status>:<startsAt>  "claim:<token>" (being sent, PX claim_ttl),
///                                                     "sent" or "throttled" (PX dedupe_ttl)
///   <prefix>flap:<fingerprint>        sorted set of the state changes sent in the window
///   <prefix>suppressed:<fingerprint>  state changes throttled and not yet reported
/// Every step that reads and writes is one Lua script, so two instances never both take
/// the same state change. Redis failures throw redis::ConnectionError / ReplyError, except
/// in MarkSent (see there). Thread-safe.
class AlertLedger final {
public:
    AlertLedger(std::shared_ptr<redis::Client> redis, LedgerOptions options, WallClock clock);

    enum class ClaimOutcome { kClaimed, kDone, kInFlight };
    struct Claim {
        ClaimOutcome outcome = ClaimOutcome::kInFlight;
        std::string value;  // kClaimed: what Release compares against
    };
    /// Takes the state change `dedupe_id` (Alert::DedupeId) for sending, atomically (SET NX
    /// PX): kDone when it was sent or throttled within the TTL, kInFlight while another
    /// claim holds it.
    Task<Claim> TryClaim(std::string dedupe_id);

    struct Admission {
        bool admitted = false;
        bool counted = false;         // admitted and added to the window (Release takes it back)
        std::int64_t suppressed = 0;  // admitted: to report in the message; else: count so far
    };
    /// The flapping check for a claimed state change of `fingerprint`. Not admitted: the
    /// state change is recorded as throttled (deduplicated like a sent one) and counted
    /// for the next message. A state change already in the window is admitted again
    /// without counting (Alertmanager's repeat after the dedupe TTL is no new change).
    Task<Admission> Admit(std::string fingerprint, std::string dedupe_id, std::string claim);

    /// Records a message Telegram accepted: "sent" for the TTL, and `reported` suppressed
    /// state changes taken off the count. Tries three times; when Redis stays down it
    /// remembers the state change in this process instead (so this instance does not send
    /// it again within the TTL) and returns false.
    Task<bool> MarkSent(std::string fingerprint, std::string dedupe_id, std::int64_t reported);

    /// Gives a claim back after a failed send, so that a retry can send it; best effort
    /// (the claim expires after claim_ttl anyway).
    Task<void> Release(std::string fingerprint, std::string dedupe_id, Claim claim, bool counted);

    const LedgerOptions& Options() const { return options_; }

private:
    std::string DedupeKey(const std::string& dedupe_id) const;
    std::string Key(const char* kind, const std::string& fingerprint) const;
    bool SentLocally(const std::string& dedupe_id);
    void RememberLocally(const std::string& dedupe_id);

    std::shared_ptr<redis::Client> redis_;
    LedgerOptions options_;
    WallClock clock_;
    std::mutex mutex_;
    std::map<std::string, std::chrono::steady_clock::time_point> sent_locally_;
};

}  // namespace keel::alert_relay
