// The relay against a real Redis and a scripted Telegram: one message per state change, in its
// thread; repeats and a second instance deduplicated; failures answered for a retry that sends
// once; flapping throttled and counted (manual clock).
#include <deque>

#include <keel/core/uuid.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/servers.hpp>

#include "relay.hpp"

namespace keel::alert_relay {
namespace {

using namespace std::chrono;
using Kind = SendResult::Kind;

// What the scripted Telegram was asked to send, and what it answers next.
struct Script {
    std::vector<OutgoingMessage> sent;
    std::deque<SendResult> answers;  // then kSent
    int calls = 0;
    milliseconds latency{0};
};

Task<SendResult> ScriptedSend(std::shared_ptr<Script> script, OutgoingMessage message) {
    ++script->calls;
    if (script->latency.count() > 0) co_await testing::Sleep(script->latency);
    SendResult result;
    result.kind = Kind::kSent;
    if (!script->answers.empty()) {
        result = script->answers.front();
        script->answers.pop_front();
    }
    if (result.kind == Kind::kSent) script->sent.push_back(std::move(message));
    co_return result;
}

SendResult Answer(Kind kind, seconds retry_after = seconds(0)) {
    SendResult r;
    r.kind = kind;
    r.retry_after = retry_after;
    r.error = "scripted";
    return r;
}

struct ManualWallClock {
    std::shared_ptr<system_clock::time_point> now =
        std::make_shared<system_clock::time_point>(sys_days(2026y / November / 30));
    WallClock Fn() const {
        return [now = now] { return *now; };
    }
};

struct Fixture {
    std::shared_ptr<Script> script = std::make_shared<Script>();
    telemetry::Registry registry;
    LedgerOptions ledger;
    RelayOptions relay;
    ManualWallClock clock;
    std::uint16_t redis_port = testing::RedisServer::Shared().Port();

    Fixture() {
        ledger.prefix = "test-" + Uuid::V7().ToString() + ":";
        ledger.flap_max = 2;
        ledger.flap_window = minutes(10);
        std::vector<std::string> problems;
        relay.threads = ThreadMap::Parse("catalog=11,critical=2,default=1", problems);
        relay.first_backoff = milliseconds(10);
        relay.claim_wait = seconds(3);
    }

    std::shared_ptr<Relay> MakeRelay(asio::any_io_executor ex) {
        redis::ClientOptions options;
        options.port = redis_port;
        options.timeout = milliseconds(300);
        auto ledger_ptr = std::make_shared<AlertLedger>(
            redis::Client::Create(std::move(ex), options), ledger, clock.Fn());
        auto send = [s = script](OutgoingMessage m) { return ScriptedSend(s, std::move(m)); };
        return std::make_shared<Relay>(std::move(ledger_ptr), send, relay, registry);
    }

    std::uint64_t Count(const std::string& name, const telemetry::Labels& labels = {}) {
        return registry.GetCounter(name, "", labels).Value();
    }
    std::uint64_t Failures(const std::string& reason) {
        return Count("keel_alert_relay_failures_total", {{"reason", reason}});
    }
};

Alert MakeAlert(std::string status, std::string starts_at = "2026-11-30T12:00:00Z",
                std::string service = "catalog") {
    Alert a;
    a.status = std::move(status);
    a.fingerprint = "4f2a9c1d0e7b3a65";
    a.labels = {{"alertname", "ServiceDown"}, {"service", service}, {"severity", "critical"}};
    a.starts_at = std::move(starts_at);
    a.ends_at = a.status == "resolved" ? "2026-11-30T12:03:00Z" : "0001-01-01T00:00:00Z";
    return a;
}

// Not braced lists at the call: GCC 12 miscompiles those in a co_await's full-expression.
Webhook Of(Alert a) {
    Webhook w;
    w.alerts.push_back(std::move(a));
    return w;
}

Webhook Of(Alert a, Alert b) {
    Webhook w = Of(std::move(a));
    w.alerts.push_back(std::move(b));
    return w;
}

KEEL_CORO_TEST(Relay, OneFiringAndOneResolvedMessageInTheServicesThread) {
    Fixture f;
    auto relay = f.MakeRelay(co_await asio::this_coro::executor);
    const auto fired = co_await relay->Deliver(Of(MakeAlert("firing")));
    EXPECT_EQ(fired.sent, 1);
    EXPECT_TRUE(fired.failure.empty());
    // Alertmanager's repeat (repeat_interval, or a group flush) within the TTL: not sent again.
    const auto repeat = co_await relay->Deliver(Of(MakeAlert("firing")));
    EXPECT_EQ(repeat.deduplicated, 1);
    EXPECT_EQ(repeat.sent, 0);
    const auto resolved = co_await relay->Deliver(Of(MakeAlert("resolved")));
    EXPECT_EQ(resolved.sent, 1);
    EXPECT_EQ(f.script->sent.size(), 2u);
    if (f.script->sent.size() != 2u) co_return;
    EXPECT_EQ(f.script->sent[0].thread_id, 11);
    EXPECT_NE(f.script->sent[0].html.find("<b>FIRING</b>"), std::string::npos);
    EXPECT_NE(f.script->sent[1].html.find("<b>RESOLVED</b>"), std::string::npos);
    EXPECT_EQ(f.Count("keel_alert_relay_received_total", {{"status", "firing"}}), 2u);
    EXPECT_EQ(f.Count("keel_alert_relay_sent_total", {{"status", "firing"}}), 1u);
    EXPECT_EQ(f.Count("keel_alert_relay_sent_total", {{"status", "resolved"}}), 1u);
    EXPECT_EQ(f.Count("keel_alert_relay_deduplicated_total"), 1u);
}

KEEL_CORO_TEST(Relay, TwoInstancesGivenTheSameAlertSendItOnce) {
    Fixture f;
    f.script->latency = milliseconds(100);  // the second instance finds the first one sending
    auto a = f.MakeRelay(co_await asio::this_coro::executor);
    auto b = f.MakeRelay(co_await asio::this_coro::executor);
    std::vector<DeliveryReport> reports(2);
    auto deliver = [](std::shared_ptr<Relay> relay, DeliveryReport& out) -> Task<void> {
        out = co_await relay->Deliver(Of(MakeAlert("firing")));
    };
    std::vector<Task<void>> both;
    both.push_back(deliver(a, reports[0]));
    both.push_back(deliver(b, reports[1]));
    co_await testing::RunConcurrently(std::move(both));
    EXPECT_EQ(f.script->sent.size(), 1u);
    EXPECT_EQ(reports[0].sent + reports[1].sent, 1);
    EXPECT_EQ(reports[0].deduplicated + reports[1].deduplicated, 1);
    EXPECT_TRUE(reports[0].failure.empty() && reports[1].failure.empty());
}

KEEL_CORO_TEST(Relay, TelegramDownFailsTheCallAndTheRetrySendsOnce) {
    Fixture f;
    auto relay = f.MakeRelay(co_await asio::this_coro::executor);
    for (int i = 0; i < 3; ++i) f.script->answers.push_back(Answer(Kind::kTransient));
    const auto failed = co_await relay->Deliver(
        Of(MakeAlert("firing"), MakeAlert("firing", "2026-11-30T12:00:00Z", "orders")));
    EXPECT_FALSE(failed.failure.empty());
    EXPECT_EQ(f.script->calls, 3);  // bounded attempts; the second alert not tried
    EXPECT_TRUE(f.script->sent.empty());
    EXPECT_EQ(f.Failures("telegram_unavailable"), 1u);
    // Alertmanager sends the group again: the released claim lets it go, once.
    const auto retried = co_await relay->Deliver(Of(MakeAlert("firing")));
    EXPECT_EQ(retried.sent, 1);
    const auto again = co_await relay->Deliver(Of(MakeAlert("firing")));
    EXPECT_EQ(again.deduplicated, 1);
    EXPECT_EQ(f.script->sent.size(), 1u);
}

KEEL_CORO_TEST(Relay, RetriesWithinTheCallWhenTelegramRecovers) {
    Fixture f;
    auto relay = f.MakeRelay(co_await asio::this_coro::executor);
    f.script->answers.push_back(Answer(Kind::kTransient));
    f.script->answers.push_back(Answer(Kind::kRetryAfter, seconds(0)));
    const auto report = co_await relay->Deliver(Of(MakeAlert("firing")));
    EXPECT_EQ(report.sent, 1);
    EXPECT_EQ(f.script->calls, 3);
}

KEEL_CORO_TEST(Relay, LongFloodWaitIsLeftToAlertmanager) {
    Fixture f;
    auto relay = f.MakeRelay(co_await asio::this_coro::executor);
    f.script->answers.push_back(Answer(Kind::kRetryAfter, seconds(30)));
    const auto report = co_await relay->Deliver(Of(MakeAlert("firing")));
    EXPECT_EQ(f.script->calls, 1);
    EXPECT_EQ(report.retry_after, seconds(30));
    EXPECT_EQ(f.Failures("telegram_rate_limited"), 1u);
}

KEEL_CORO_TEST(Relay, ThreadTelegramRefusesFallsBackToTheChat) {
    Fixture f;
    auto relay = f.MakeRelay(co_await asio::this_coro::executor);
    f.script->answers.push_back(Answer(Kind::kRejected));
    const auto report = co_await relay->Deliver(Of(MakeAlert("firing")));
    EXPECT_EQ(report.sent, 1);
    EXPECT_EQ(f.script->sent.size(), 1u);
    if (f.script->sent.size() != 1u) co_return;
    EXPECT_EQ(f.script->sent[0].thread_id, std::nullopt);
    EXPECT_EQ(f.Failures("telegram_rejected"), 1u);
}

KEEL_CORO_TEST(Relay, RedisDownSendsNothingAndFailsTheCall) {
    Fixture f;
    f.redis_port = testing::FreePort();
    auto relay = f.MakeRelay(co_await asio::this_coro::executor);
    const auto report = co_await relay->Deliver(Of(MakeAlert("firing"), MakeAlert("resolved")));
    EXPECT_NE(report.failure.find("Redis"), std::string::npos);
    EXPECT_EQ(f.script->calls, 0);
    EXPECT_EQ(f.Failures("redis"), 1u);
}

KEEL_CORO_TEST(Relay, FlappingAlertIsThrottledAndTheNextMessageSaysHowMuch) {
    Fixture f;
    auto relay = f.MakeRelay(co_await asio::this_coro::executor);
    // flap_max 2 per 10 minutes.
    const char* starts[] = {"2026-11-30T12:00:00Z", "2026-11-30T12:01:00Z", "2026-11-30T12:02:00Z"};
    for (const char* start : starts) {
        co_await relay->Deliver(Of(MakeAlert("firing", start)));
        *f.clock.now += minutes(1);
        co_await relay->Deliver(Of(MakeAlert("resolved", start)));
        *f.clock.now += minutes(1);
    }
    EXPECT_EQ(f.script->sent.size(), 2u);
    EXPECT_EQ(f.Count("keel_alert_relay_throttled_total"), 4u);
    *f.clock.now += minutes(10);
    const auto report = co_await relay->Deliver(Of(MakeAlert("firing", "2026-11-30T12:20:00Z")));
    EXPECT_EQ(report.sent, 1);
    EXPECT_EQ(f.script->sent.size(), 3u);
    if (f.script->sent.size() != 3u) co_return;
    EXPECT_NE(f.script->sent[2].html.find("4 earlier state changes"), std::string::npos)
        << f.script->sent[2].html;
}

}  // namespace
}  // namespace keel::alert_relay
