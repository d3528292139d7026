#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <keel/telemetry/metrics.hpp>

#include "alert.hpp"
#include "ledger.hpp"
#include "message.hpp"
#include "threads.hpp"

namespace keel::alert_relay {

/// What became of one sendMessage call (the Telegram client's outcome, as the relay needs it).
struct SendResult {
    enum class Kind {
        kSent,        // Telegram has the message
        kRetryAfter,  // 429, or the breaker is open: try again after retry_after
        kRejected,    // 400, 403: this message will never go as it is
        kTransient,   // 5xx, network error, deadline
    };
    Kind kind = Kind::kTransient;
    std::chrono::seconds retry_after{0};
    std::string error;  // never contains the bot token
};

/// Sends one message to the ops chat. Never throws for delivery failures.
using SendFn = std::function<Task<SendResult>(OutgoingMessage)>;

struct RelayOptions {
    ThreadMap threads;
    /// ALERT_SEND_ATTEMPTS: sendMessage calls per message within one webhook call.
    int send_attempts = 3;
    /// Waits between them: this, doubled each time; a 429's retry_after instead, unless
    /// longer than max_inline_wait (then the webhook is answered 503 at once).
    std::chrono::milliseconds first_backoff{250};
    std::chrono::seconds max_inline_wait{5};
    /// How long to wait for another instance that holds the same state change.
    std::chrono::milliseconds claim_wait{std::chrono::seconds(3)};
};

/// The answer to one webhook call.
struct DeliveryReport {
    int received = 0;
    int sent = 0;
    int deduplicated = 0;
    int throttled = 0;
    /// Empty when every alert was handled; else why not (the webhook is answered 503 so that
    /// Alertmanager sends it again: what was sent is deduplicated then).
    std::string failure;
    std::chrono::seconds retry_after{1};
};

/// Turns Alertmanager's alerts into Telegram messages: one per state change (firing,
/// resolved) of each alert, deduplicated and throttled through the ledger, sent with
/// bounded retries. A claim whose message was not sent is released. Counts into
/// `registry`: keel_alert_relay_{received,sent}_total{status},
/// keel_alert_relay_{deduplicated,throttled}_total and
/// keel_alert_relay_failures_total{reason} (redis, telegram_unavailable,
/// telegram_rate_limited, telegram_rejected, in_flight, not_recorded). Thread-safe.
class Relay final {
public:
    Relay(std::shared_ptr<AlertLedger> ledger, SendFn send, RelayOptions options,
          telemetry::Registry& registry);

    /// Handles the alerts in order; stops at the first failure that would fail the rest too
    /// (Redis or Telegram unreachable).
    Task<DeliveryReport> Deliver(Webhook webhook);

private:
    enum class Result { kSent, kDeduplicated, kThrottled, kFailed, kFailedStop };
    struct Outcome {
        Result result = Result::kFailed;
        std::string failure;
        std::chrono::seconds retry_after{1};
    };
    Task<Outcome> DeliverOne(Alert alert);
    Task<AlertLedger::Claim> Claim(std::string dedupe_id);
    Task<Outcome> Send(Alert alert, AlertLedger::Claim claim, AlertLedger::Admission admission);
    Task<SendResult> SendWithRetries(OutgoingMessage message);
    telemetry::Counter& Failure(const std::string& reason);

    std::shared_ptr<AlertLedger> ledger_;
    SendFn send_;
    RelayOptions options_;
    telemetry::Registry& registry_;
};

}  // namespace keel::alert_relay
