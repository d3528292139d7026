// The ledger against a real Redis: atomic claims, the dedupe TTL, releases, and throttling
// driven by a manual clock.
#include <keel/core/uuid.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/servers.hpp>

#include "ledger.hpp"

namespace keel::alert_relay {
namespace {

using namespace std::chrono;
using Outcome = AlertLedger::ClaimOutcome;

// Wall time that moves only when told.
struct ManualWallClock {
    std::shared_ptr<system_clock::time_point> now =
        std::make_shared<system_clock::time_point>(sys_days(2026y / November / 30));
    WallClock Fn() const {
        return [now = now] { return *now; };
    }
    void Advance(system_clock::duration by) const { *now += by; }
};

std::shared_ptr<redis::Client> Redis(asio::any_io_executor ex) {
    redis::ClientOptions options;
    options.port = testing::RedisServer::Shared().Port();
    return redis::Client::Create(std::move(ex), options);
}

// Each test its own keys, so that tests sharing the server do not see each other.
LedgerOptions Options() {
    LedgerOptions options;
    options.prefix = "test-" + Uuid::V7().ToString() + ":";
    options.flap_max = 3;
    options.flap_window = minutes(10);
    return options;
}

Task<std::shared_ptr<AlertLedger>> Ledger(LedgerOptions options, WallClock clock = {}) {
    if (!clock) clock = ManualWallClock().Fn();
    co_return std::make_shared<AlertLedger>(Redis(co_await asio::this_coro::executor),
                                            std::move(options), std::move(clock));
}

KEEL_CORO_TEST(Ledger, TwoInstancesClaimAStateChangeOnce) {
    const auto options = Options();
    auto a = co_await Ledger(options);
    auto b = co_await Ledger(options);
    int claimed = 0, in_flight = 0;
    auto claim = [](std::shared_ptr<AlertLedger> l, int& c, int& f) -> Task<void> {
        const auto got = co_await l->TryClaim("ff:firing:t0");
        if (got.outcome == Outcome::kClaimed) ++c;
        if (got.outcome == Outcome::kInFlight) ++f;
    };
    std::vector<Task<void>> tasks;
    tasks.reserve(10);
    for (int i = 0; i < 10; ++i) tasks.push_back(claim(i % 2 ? a : b, claimed, in_flight));
    co_await testing::RunConcurrently(std::move(tasks));
    EXPECT_EQ(claimed, 1);
    EXPECT_EQ(in_flight, 9);
}

KEEL_CORO_TEST(Ledger, SentIsDoneForTheTtlAndOtherStatesAreNot) {
    auto options = Options();
    options.dedupe_ttl = seconds(120);
    auto ledger = co_await Ledger(options);
    const auto claim = co_await ledger->TryClaim("ff:firing:t0");
    EXPECT_EQ(claim.outcome, Outcome::kClaimed);
    EXPECT_TRUE(co_await ledger->MarkSent("ff", "ff:firing:t0", 0));
    const auto again = co_await ledger->TryClaim("ff:firing:t0");
    EXPECT_EQ(again.outcome, Outcome::kDone);
    const auto resolved = co_await ledger->TryClaim("ff:resolved:t0");
    EXPECT_EQ(resolved.outcome, Outcome::kClaimed);
    const auto next_episode = co_await ledger->TryClaim("ff:firing:t1");
    EXPECT_EQ(next_episode.outcome, Outcome::kClaimed);
    std::vector<std::string> pttl{"PTTL", options.prefix + "dedupe:ff:firing:t0"};
    auto redis = Redis(co_await asio::this_coro::executor);
    const auto left = (co_await redis->Command(pttl)).integer;
    EXPECT_GT(left, 110'000);
    EXPECT_LE(left, 120'000);
}

KEEL_CORO_TEST(Ledger, SentStateChangeComesBackAfterItsTtl) {
    auto options = Options();
    options.dedupe_ttl = milliseconds(200);
    auto ledger = co_await Ledger(options);
    co_await ledger->TryClaim("ff:firing:t0");
    co_await ledger->MarkSent("ff", "ff:firing:t0", 0);
    auto claimable = [ledger]() -> Task<bool> {
        const auto claim = co_await ledger->TryClaim("ff:firing:t0");
        co_return claim.outcome == Outcome::kClaimed;
    };
    EXPECT_TRUE(co_await testing::WaitUntil(claimable, seconds(5)));
}

KEEL_CORO_TEST(Ledger, ReleasedClaimCanBeTakenAgainButNotSomeoneElses) {
    const auto options = Options();
    auto a = co_await Ledger(options);
    auto b = co_await Ledger(options);
    const auto first = co_await a->TryClaim("ff:firing:t0");
    co_await a->Release("ff", "ff:firing:t0", first, false);
    const auto second = co_await b->TryClaim("ff:firing:t0");
    EXPECT_EQ(second.outcome, Outcome::kClaimed);
    co_await a->Release("ff", "ff:firing:t0", first, false);  // stale: b's claim stays
    const auto third = co_await a->TryClaim("ff:firing:t0");
    EXPECT_EQ(third.outcome, Outcome::kInFlight);
}

KEEL_CORO_TEST(Ledger, FlappingAlertIsThrottledAndCountedUntilTheWindowMoves) {
    const ManualWallClock clock;
    auto ledger = co_await Ledger(Options(), clock.Fn());
    // flap_max 3 in 10 minutes: three state changes go, the next two are suppressed.
    std::vector<AlertLedger::Admission> admissions;
    for (int i = 0; i < 5; ++i) {
        const auto id =
            "ff:" + std::string(i % 2 ? "resolved" : "firing") + ":t" + std::to_string(i / 2);
        const auto claim = co_await ledger->TryClaim(id);
        admissions.push_back(co_await ledger->Admit("ff", id, claim.value));
        if (admissions.back().admitted) co_await ledger->MarkSent("ff", id, 0);
        clock.Advance(minutes(1));
    }
    EXPECT_TRUE(admissions[2].admitted);
    EXPECT_FALSE(admissions[3].admitted);
    EXPECT_EQ(admissions[3].suppressed, 1);
    EXPECT_EQ(admissions[4].suppressed, 2);
    // A throttled state change counts as done: Alertmanager's repeat is not counted again.
    const auto repeat = co_await ledger->TryClaim("ff:resolved:t1");
    EXPECT_EQ(repeat.outcome, Outcome::kDone);
    // Ten minutes after the first one, its slot is free: the next change goes, with the count.
    clock.Advance(minutes(6));
    const auto claim = co_await ledger->TryClaim("ff:resolved:t2");
    const auto admitted = co_await ledger->Admit("ff", "ff:resolved:t2", claim.value);
    EXPECT_TRUE(admitted.admitted);
    EXPECT_EQ(admitted.suppressed, 2);
    co_await ledger->MarkSent("ff", "ff:resolved:t2", admitted.suppressed);
    const auto after = co_await ledger->TryClaim("ff:firing:t3");
    const auto next = co_await ledger->Admit("ff", "ff:firing:t3", after.value);
    EXPECT_EQ(next.suppressed, 0);  // reported once
}

KEEL_CORO_TEST(Ledger, RepeatAfterTheTtlIsNoNewStateChange) {
    const ManualWallClock clock;
    auto options = Options();
    options.flap_max = 1;
    auto ledger = co_await Ledger(options, clock.Fn());
    const auto claim = co_await ledger->TryClaim("ff:firing:t0");
    const auto first = co_await ledger->Admit("ff", "ff:firing:t0", claim.value);
    EXPECT_TRUE(first.admitted);
    EXPECT_TRUE(first.counted);
    const auto repeat = co_await ledger->Admit("ff", "ff:firing:t0", claim.value);
    EXPECT_TRUE(repeat.admitted);
    EXPECT_FALSE(repeat.counted);
}

KEEL_CORO_TEST(Ledger, ReleaseGivesTheWindowSlotBack) {
    const ManualWallClock clock;
    auto options = Options();
    options.flap_max = 1;
    auto ledger = co_await Ledger(options, clock.Fn());
    const auto claim = co_await ledger->TryClaim("ff:firing:t0");
    const auto admission = co_await ledger->Admit("ff", "ff:firing:t0", claim.value);
    co_await ledger->Release("ff", "ff:firing:t0", claim, admission.counted);  // send failed
    const auto retry = co_await ledger->TryClaim("ff:firing:t0");
    const auto again = co_await ledger->Admit("ff", "ff:firing:t0", retry.value);
    EXPECT_TRUE(again.admitted);
    EXPECT_EQ(again.suppressed, 0);
}

KEEL_CORO_TEST(Ledger, RedisDownThrowsAndMarkSentRemembersLocally) {
    redis::ClientOptions nowhere;
    nowhere.port = testing::FreePort();
    nowhere.timeout = milliseconds(200);
    auto ledger = std::make_shared<AlertLedger>(
        redis::Client::Create(co_await asio::this_coro::executor, nowhere), Options(),
        ManualWallClock().Fn());
    bool threw = false;
    try {
        co_await ledger->TryClaim("ff:firing:t0");
    } catch (const redis::ConnectionError&) {
        threw = true;
    }
    EXPECT_TRUE(threw);
    EXPECT_FALSE(co_await ledger->MarkSent("ff", "ff:firing:t0", 0));
    // This instance will not send it again, even with Redis still down.
    const auto claim = co_await ledger->TryClaim("ff:firing:t0");
    EXPECT_EQ(claim.outcome, Outcome::kDone);
}

}  // namespace
}  // namespace keel::alert_relay
