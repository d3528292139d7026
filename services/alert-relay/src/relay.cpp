#include "relay.hpp"

#include <keel/core/log.hpp>

namespace keel::alert_relay {
namespace {

using Kind = SendResult::Kind;

constexpr const char* kFailures = "keel_alert_relay_failures_total";
constexpr const char* kFailuresHelp =
    "Alert state changes not delivered (yet) or delivered but not recorded, by reason.";
const char* const kReasons[] = {
    "redis",     "telegram_unavailable", "telegram_rate_limited", "telegram_rejected",
    "in_flight", "not_recorded"};

Task<void> Sleep(std::chrono::milliseconds duration) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(duration);
    co_await timer.async_wait(asio::use_awaitable);
}

std::string ReasonOf(const SendResult& result) {
    switch (result.kind) {
        case Kind::kRetryAfter:
            return "telegram_rate_limited";
        case Kind::kRejected:
            return "telegram_rejected";
        default:
            return "telegram_unavailable";
    }
}

}  // namespace

Relay::Relay(std::shared_ptr<AlertLedger> ledger, SendFn send, RelayOptions options,
             telemetry::Registry& registry)
    : ledger_(std::move(ledger)),
      send_(std::move(send)),
      options_(std::move(options)),
      registry_(registry) {
    // Every series from the start, so that rate() and increase() see the first failure.
    for (const char* reason : kReasons) Failure(reason);
    for (const char* status : {"firing", "resolved"}) {
        registry_.GetCounter("keel_alert_relay_received_total",
                             "Alerts received from Alertmanager, by status.", {{"status", status}});
        registry_.GetCounter("keel_alert_relay_sent_total",
                             "Alert messages Telegram accepted, by status.", {{"status", status}});
    }
    registry_.GetCounter("keel_alert_relay_deduplicated_total",
                         "Alert state changes not sent again: sent within the dedupe TTL.");
    registry_.GetCounter("keel_alert_relay_throttled_total",
                         "Alert state changes not sent: the alert is flapping.");
}

telemetry::Counter& Relay::Failure(const std::string& reason) {
    return registry_.GetCounter(kFailures, kFailuresHelp, {{"reason", reason}});
}

Task<DeliveryReport> Relay::Deliver(Webhook webhook) {
    DeliveryReport report;
    for (const auto& alert : webhook.alerts) {
        registry_
            .GetCounter("keel_alert_relay_received_total",
                        "Alerts received from Alertmanager, by status.", {{"status", alert.status}})
            .Inc();
        ++report.received;
    }
    for (auto& alert : webhook.alerts) {
        Outcome outcome;
        bool redis_down = false;
        std::string error;
        try {
            outcome = co_await DeliverOne(alert);
        } catch (const std::exception& e) {
            redis_down = true;
            error = e.what();
        }
        if (redis_down) {
            Failure("redis").Inc();
            log::Warn("Redis failed while relaying an alert", {{"error", error}});
            outcome.result = Result::kFailedStop;
            outcome.failure = "Redis is unavailable";
        }
        switch (outcome.result) {
            case Result::kSent:
                ++report.sent;
                break;
            case Result::kDeduplicated:
                ++report.deduplicated;
                break;
            case Result::kThrottled:
                ++report.throttled;
                break;
            case Result::kFailed:
            case Result::kFailedStop:
                report.failure = outcome.failure;
                report.retry_after = std::max(report.retry_after, outcome.retry_after);
                break;
        }
        if (outcome.result == Result::kFailedStop) break;
    }
    co_return report;
}

Task<AlertLedger::Claim> Relay::Claim(std::string dedupe_id) {
    auto claim = co_await ledger_->TryClaim(dedupe_id);
    const auto until = std::chrono::steady_clock::now() + options_.claim_wait;
    // Another instance is sending it: wait for its outcome (sent, or released after a failure).
    while (claim.outcome == AlertLedger::ClaimOutcome::kInFlight &&
           std::chrono::steady_clock::now() < until) {
        co_await Sleep(std::chrono::milliseconds(100));
        claim = co_await ledger_->TryClaim(dedupe_id);
    }
    co_return claim;
}

Task<Relay::Outcome> Relay::DeliverOne(Alert alert) {
    Outcome outcome;
    const auto id = alert.DedupeId();
    const auto claim = co_await Claim(id);
    if (claim.outcome == AlertLedger::ClaimOutcome::kDone) {
        registry_
            .GetCounter("keel_alert_relay_deduplicated_total",
                        "Alert state changes not sent again: sent within the dedupe TTL.")
            .Inc();
        outcome.result = Result::kDeduplicated;
        co_return outcome;
    }
    if (claim.outcome == AlertLedger::ClaimOutcome::kInFlight) {
        Failure("in_flight").Inc();
        outcome.failure = "another instance is still sending alert " + alert.fingerprint;
        co_return outcome;
    }
    AlertLedger::Admission admission;
    bool admitted = false;
    try {
        admission = co_await ledger_->Admit(alert.fingerprint, id, claim.value);
        admitted = true;
    } catch (const std::exception&) {
        // Released below (no co_await in a catch block); Deliver counts the failure.
    }
    if (!admitted) {
        co_await ledger_->Release(alert.fingerprint, id, claim, false);
        throw redis::ConnectionError("Redis failed while checking for flapping");
    }
    if (!admission.admitted) {
        registry_
            .GetCounter("keel_alert_relay_throttled_total",
                        "Alert state changes not sent: the alert is flapping.")
            .Inc();
        log::Info("alert throttled (flapping)", {{"fingerprint", alert.fingerprint},
                                                 {"status", alert.status},
                                                 {"suppressed", admission.suppressed}});
        outcome.result = Result::kThrottled;
        co_return outcome;
    }
    co_return co_await Send(std::move(alert), claim, admission);
}

Task<Relay::Outcome> Relay::Send(Alert alert, AlertLedger::Claim claim,
                                 AlertLedger::Admission admission) {
    Outcome outcome;
    const auto id = alert.DedupeId();
    OutgoingMessage message;
    message.html = FormatAlert(alert, admission.suppressed);
    message.thread_id = options_.threads.For(alert.labels);
    auto result = co_await SendWithRetries(message);
    if (result.kind == Kind::kRejected && message.thread_id) {
        // Most likely a thread that does not exist (any more): the chat itself rather than nowhere.
        Failure("telegram_rejected").Inc();
        log::Warn("Telegram refused an alert for its thread; sending it to the chat itself",
                  {{"thread_id", *message.thread_id}, {"error", result.error}});
        message.thread_id.reset();
        result = co_await SendWithRetries(message);
    }
    if (result.kind == Kind::kSent) {
        if (!co_await ledger_->MarkSent(alert.fingerprint, id, admission.suppressed))
            Failure("not_recorded").Inc();
        registry_
            .GetCounter("keel_alert_relay_sent_total",
                        "Alert messages Telegram accepted, by status.", {{"status", alert.status}})
            .Inc();
        outcome.result = Result::kSent;
        co_return outcome;
    }
    co_await ledger_->Release(alert.fingerprint, id, claim, admission.counted);
    const auto reason = ReasonOf(result);
    Failure(reason).Inc();
    log::Warn("alert not sent; Alertmanager will retry",
              {{"fingerprint", alert.fingerprint}, {"reason", reason}, {"error", result.error}});
    outcome.failure = "Telegram did not take the message (" + reason + "): " + result.error;
    outcome.retry_after = std::max(std::chrono::seconds(1), result.retry_after);
    // A refused message says nothing about the next one; an unreachable Telegram does.
    outcome.result = result.kind == Kind::kRejected ? Result::kFailed : Result::kFailedStop;
    co_return outcome;
}

Task<SendResult> Relay::SendWithRetries(OutgoingMessage message) {
    SendResult result;
    auto backoff = options_.first_backoff;
    for (int attempt = 1; attempt <= options_.send_attempts; ++attempt) {
        result = co_await send_(message);
        if (result.kind == Kind::kSent || result.kind == Kind::kRejected) break;
        if (attempt == options_.send_attempts) break;
        std::chrono::milliseconds wait = backoff;
        if (result.kind == Kind::kRetryAfter) wait = result.retry_after;
        if (wait > options_.max_inline_wait) break;
        co_await Sleep(wait);
        backoff *= 2;
    }
    co_return result;
}

}  // namespace keel::alert_relay
