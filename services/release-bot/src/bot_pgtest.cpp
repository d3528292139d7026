// The Bot with a fake keel-stack and a real audit log: who may command it, what it asks
// keel-stack, what it records and what it says where.
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "bot.hpp"
#include "migrations.hpp"

namespace keel::release_bot {
namespace {

constexpr std::int64_t kOpsChat = -100500;
constexpr std::int64_t kReleaseThread = 7;

struct Sent {
    std::int64_t chat_id;
    std::optional<std::int64_t> thread_id;
    std::string html;
};

// Answers every call with `reply`, recording the requests.
class FakeStack final : public StackControl {
public:
    Task<ControlReply> Call(boost::json::object request, std::chrono::milliseconds) override {
        requests.push_back(std::move(request));
        co_return reply;
    }
    std::vector<boost::json::object> requests;
    ControlReply reply;
};

struct Fixture {
    std::shared_ptr<FakeStack> stack = std::make_shared<FakeStack>();
    std::shared_ptr<std::vector<Sent>> sent = std::make_shared<std::vector<Sent>>();
    std::shared_ptr<AuditStore> audit;
    std::unique_ptr<Bot> bot;
};

// A coroutine of its own, not a capturing lambda: the lambda object would not outlive it.
Task<void> Keep(std::shared_ptr<std::vector<Sent>> sent, std::int64_t chat,
                std::optional<std::int64_t> thread, std::string html) {
    sent->push_back({chat, thread, std::move(html)});
    co_return;
}

Task<std::unique_ptr<Fixture>> Make(std::string db, bool native) {
    auto f = std::make_unique<Fixture>();
    auto pool = co_await testing::MigratedPool(db, Migrations(), "release-bot");
    f->audit = std::make_shared<AuditStore>(pool);
    BotOptions options;
    options.ops_chat_id = kOpsChat;
    options.release_thread_id = kReleaseThread;
    options.bot_username = "ops_bot";
    options.deploy_hint = "kubectl rollout";
    options.native = native;
    auto sent = f->sent;
    SendMessage send = [sent](std::int64_t chat, std::optional<std::int64_t> thread,
                              std::string html) {
        return Keep(sent, chat, thread, std::move(html));
    };
    f->bot = std::make_unique<Bot>(options, AllowList({kOpsChat}), f->audit, f->stack, send,
                                   ErrorRates());
    co_return f;
}

telegram::Message From(std::int64_t chat, std::string text) {
    telegram::Message m;
    m.chat_id = chat;
    m.from_id = 42;
    m.from_username = "ann";
    m.text = std::move(text);
    if (chat == kOpsChat) m.message_thread_id = kReleaseThread;
    return m;
}

KEEL_CORO_TEST(Bot, RefusesAnUnknownChatAndChangesNothing) {
    auto f = co_await Make("release_bot_bot_refuse", true);
    co_await f->bot->Handle(From(999, "/release catalog"));
    co_await f->bot->Handle(From(999, "/status"));
    EXPECT_TRUE(f->stack->requests.empty());
    EXPECT_EQ(f->sent->size(), 2u);
    for (const auto& s : *f->sent) {
        EXPECT_EQ(s.chat_id, 999);
        EXPECT_NE(s.html.find("may not command the release bot"), std::string::npos) << s.html;
    }
    const auto log = co_await f->audit->Recent(10);
    EXPECT_EQ(log.size(), 1u);
    if (log.empty()) co_return;
    EXPECT_EQ(log[0].outcome, "refused");
    EXPECT_EQ(log[0].request.chat_id, 999);
}

KEEL_CORO_TEST(Bot, ReleasesThroughKeelStackAndAnnouncesInTheReleaseTopic) {
    auto f = co_await Make("release_bot_bot_release", true);
    f->stack->reply.reachable = true;
    f->stack->reply.ok = true;
    f->stack->reply.result = boost::json::parse(
        R"({"ok":true,"outcome":"released","from":{"hash":"aaaa","commit":"c1"},"to":{"hash":"bbbb","commit":"c2"}})");
    co_await f->bot->Handle(From(kOpsChat, "/release@ops_bot catalog"));
    EXPECT_EQ(f->stack->requests.size(), 1u);
    if (f->stack->requests.empty()) co_return;
    EXPECT_EQ(f->stack->requests[0].at("cmd").as_string(), "release");
    EXPECT_EQ(f->stack->requests[0].at("service").as_string(), "catalog");
    EXPECT_EQ(f->sent->size(), 2u);  // started, ended: both in the release topic only
    for (const auto& s : *f->sent) {
        EXPECT_EQ(s.chat_id, kOpsChat);
        EXPECT_EQ(s.thread_id, std::optional<std::int64_t>(kReleaseThread));
    }
    if (f->sent->size() == 2) {
        EXPECT_EQ(f->sent->back().html,
                  "✅ Released <b>catalog</b>: c1 (binary aaaa) → c2 (binary bbbb) (by @ann)");
    }
    const auto log = co_await f->audit->Recent(10);
    EXPECT_EQ(log.size(), 1u);
    if (log.empty()) co_return;
    EXPECT_EQ(log[0].outcome, "released");
    EXPECT_EQ(log[0].from_version, "c1 (binary aaaa)");
    EXPECT_EQ(log[0].to_version, "c2 (binary bbbb)");
    EXPECT_EQ(log[0].request.username, "ann");
    EXPECT_FALSE(log[0].finished_at.empty());
}

KEEL_CORO_TEST(Bot, RecordsARollbackAfterAFailedRelease) {
    auto f = co_await Make("release_bot_bot_rolled", true);
    f->stack->reply.reachable = true;
    f->stack->reply.result = boost::json::parse(
        R"({"ok":false,"outcome":"rolled_back","from":{"hash":"aaaa","commit":"c1"},"to":{"hash":"bbbb","commit":"unknown"},"error":"not ready after 10s","replica":"catalog#1"})");
    co_await f->bot->Handle(From(kOpsChat, "/release catalog"));
    EXPECT_EQ(f->sent->size(), 2u);
    if (f->sent->size() == 2) {
        EXPECT_NE(f->sent->back().html.find("failed and was rolled back to c1 (binary aaaa): "
                                            "catalog#1: not ready after 10s"),
                  std::string::npos)
            << f->sent->back().html;
    }
    const auto log = co_await f->audit->Recent(10);
    EXPECT_EQ(log.size(), 1u);
    if (!log.empty()) {
        EXPECT_EQ(log[0].outcome, "rolled_back");
    }
}

KEEL_CORO_TEST(Bot, RefusesASecondReleaseOfTheSameService) {
    auto f = co_await Make("release_bot_bot_busy", true);
    AuditRequest running;
    running.chat_id = kOpsChat;
    running.command = "release";
    running.service = "catalog";
    EXPECT_TRUE((co_await f->audit->Begin(running)).has_value());
    co_await f->bot->Handle(From(kOpsChat, "/rollback catalog"));
    EXPECT_TRUE(f->stack->requests.empty());
    EXPECT_EQ(f->sent->size(), 1u);
    if (!f->sent->empty()) {
        EXPECT_NE(f->sent->front().html.find("already running"), std::string::npos);
    }
}

KEEL_CORO_TEST(Bot, WithoutKeelStackReleasesAreRefusedNamingTheDeployWay) {
    auto f = co_await Make("release_bot_bot_compose", false);
    co_await f->bot->Handle(From(kOpsChat, "/release catalog"));
    EXPECT_TRUE(f->stack->requests.empty());
    EXPECT_EQ(f->sent->size(), 1u);
    if (!f->sent->empty()) {
        EXPECT_NE(f->sent->front().html.find("Here: kubectl rollout"), std::string::npos)
            << f->sent->front().html;
    }
    const auto log = co_await f->audit->Recent(10);
    EXPECT_EQ(log.size(), 1u);
    if (!log.empty()) {
        EXPECT_EQ(log[0].outcome, "refused");
    }
}

KEEL_CORO_TEST(Bot, AnswersHelpUnknownAndUsageAndIgnoresChatter) {
    auto f = co_await Make("release_bot_bot_help", true);
    co_await f->bot->Handle(From(kOpsChat, "good morning"));
    co_await f->bot->Handle(From(kOpsChat, "/status@another_bot"));
    EXPECT_TRUE(f->sent->empty());
    co_await f->bot->Handle(From(kOpsChat, "/deploy catalog"));
    co_await f->bot->Handle(From(kOpsChat, "/release"));
    EXPECT_EQ(f->sent->size(), 2u);
    if (f->sent->size() != 2) co_return;
    EXPECT_NE((*f->sent)[0].html.find("unknown command /deploy"), std::string::npos);
    EXPECT_NE((*f->sent)[0].html.find("/rollback SERVICE"), std::string::npos);
    EXPECT_EQ((*f->sent)[1].html, "usage: /release SERVICE (e.g. /release catalog)");
    EXPECT_TRUE(f->stack->requests.empty());
}

KEEL_CORO_TEST(Bot, StatusAsksKeelStackWithMetrics) {
    auto f = co_await Make("release_bot_bot_status", true);
    f->stack->reply.reachable = true;
    f->stack->reply.result = boost::json::parse(
        R"({"services":{"catalog":{"replicas":[{"state":"running","health":"healthy","version":"c2"}]}}})");
    co_await f->bot->Handle(From(kOpsChat, "/status"));
    EXPECT_EQ(f->stack->requests.size(), 1u);
    if (!f->stack->requests.empty()) {
        EXPECT_EQ(f->stack->requests[0].at("cmd").as_string(), "ps");
        EXPECT_TRUE(f->stack->requests[0].at("metrics").as_bool());
    }
    EXPECT_EQ(f->sent->size(), 1u);
    if (!f->sent->empty()) {
        EXPECT_NE(f->sent->front().html.find("<b>catalog</b> 1/1 ready · c2"), std::string::npos);
    }
}

}  // namespace
}  // namespace keel::release_bot
