// The sender against a real PostgreSQL and the fake Telegram Bot API
// (tests/fakes/telegram/fake_telegram.py, started per test on a free port).

#include <set>
#include <stdexcept>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/parse.hpp>

#include <keel/core/uuid.hpp>
#include <keel/http/json_body.hpp>
#include <keel/telegram/testing/fake_server.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/servers.hpp>

#include "delivery_fixtures.hpp"
#include "delivery_log.hpp"
#include "migrations.hpp"
#include "sender.hpp"

namespace keel::notifications {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using fixtures::Confirmed;
using fixtures::Handle;
using fixtures::Profile;
using fixtures::Receipt;
using fixtures::Scalar;
using fixtures::Text;

constexpr const char* kToken = "123456:test-token_XYZ";

using FakeTelegram = telegram::testing::FakeServer;

// The fake's control endpoints.
Task<json::value> FakeCall(http::Client& client, const FakeTelegram& fake, http::Verb verb,
                           const std::string& path, std::string body = {}) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    auto response =
        co_await client.Send(verb, fake.Base() + path, std::move(headers), std::move(body), 5s);
    co_return json::parse(response.body());
}

Task<void> FailNext(http::Client& client, const FakeTelegram& fake, int count, int status,
                    int retry_after = 1) {
    const json::value spec =
        json::object{{"count", count}, {"status", status}, {"retry_after", retry_after}};
    co_await FakeCall(client, fake, http::Verb::post, "/_fake/fail", http::ToJson(spec));
}

Task<std::int64_t> SendCalls(http::Client& client, const FakeTelegram& fake) {
    auto stats = co_await FakeCall(client, fake, http::Verb::get, "/_fake/stats");
    co_return stats.at("send_message_calls").as_int64();
}

struct Rig {
    std::shared_ptr<pg::Pool> pool;
    std::shared_ptr<http::Client> http;
    std::shared_ptr<telegram::Client> telegram;
};

Task<Rig> MakeRig(const std::string& db, const std::string& base,
                  std::chrono::milliseconds deadline = 5s) {
    Rig rig;
    rig.pool = co_await testing::MigratedPool(db, Migrations(), "notifications");
    rig.http = std::make_shared<http::Client>(co_await asio::this_coro::executor);
    telegram::Settings settings;
    settings.api_base = base;
    settings.bot_token = kToken;
    settings.deadline = deadline;
    rig.telegram = std::make_shared<telegram::Client>(
        std::make_shared<resilience::Downstream>(rig.http, telegram::DownstreamOptions(settings)),
        settings);
    co_return rig;
}

// A pending delivery for `user` (linked to `chat`); returns its order id.
Task<std::string> PendingDelivery(pg::Pool& pool, const std::string& user, std::int64_t chat) {
    co_await Profile(pool, user, chat, 1000);
    const auto order = Uuid::V7().ToString();
    co_await Handle(pool, OnOrderConfirmed, Confirmed(order, user, 1200));
    co_return order;
}

std::string Row(const std::string& order, const char* columns) {
    return std::string("SELECT ") + columns + " FROM deliveries WHERE order_id = '" + order + "'";
}

KEEL_CORO_TEST(Sender, SendsDueMessagesAndKeepsTelegramsMessageId) {
    FakeTelegram fake({kToken});
    auto rig = co_await MakeRig("notify_sent", fake.Base());
    const auto ann = Uuid::V7().ToString();
    const auto o1 = co_await PendingDelivery(*rig.pool, ann, 1001);
    co_await Handle(*rig.pool, OnReceiptIssued, Receipt(o1, ann, 7, 1200));
    DeliverySender sender(rig.pool, rig.telegram, SenderOptions{});

    EXPECT_EQ(co_await sender.RunOnce(), 2);
    EXPECT_EQ(co_await sender.RunOnce(), 0);
    EXPECT_EQ(co_await Scalar(*rig.pool,
                              "SELECT count(*) FROM deliveries WHERE status = 'sent' "
                              "AND sent_at IS NOT NULL AND attempts = 1 AND last_error IS NULL"),
              2);
    const auto messages = co_await FakeCall(*rig.http, fake, http::Verb::get, "/_fake/messages");
    EXPECT_EQ(messages.as_array().size(), 2u);
    if (messages.as_array().size() == 2) {
        const auto& first = messages.as_array()[0].as_object();
        EXPECT_EQ(first.at("chat_id").as_int64(), 1001);
        const auto id = first.at("message_id").as_int64();
        EXPECT_EQ(
            co_await Text(*rig.pool, "SELECT text FROM deliveries WHERE telegram_message_id = " +
                                         std::to_string(id)),
            std::string(first.at("text").as_string()));
    }
    EXPECT_EQ(co_await SendCalls(*rig.http, fake), 2);
}

KEEL_CORO_TEST(Sender, TooManyRequestsWaitsRetryAfterAndEndsThePass) {
    FakeTelegram fake({kToken});
    auto rig = co_await MakeRig("notify_429", fake.Base());
    const auto first = co_await PendingDelivery(*rig.pool, Uuid::V7().ToString(), 1001);
    const auto second = co_await PendingDelivery(*rig.pool, Uuid::V7().ToString(), 1002);
    DeliverySender sender(rig.pool, rig.telegram, SenderOptions{});
    co_await FailNext(*rig.http, fake, 1, 429, 1);

    EXPECT_EQ(co_await sender.RunOnce(), 1);  // stopped at the 429
    EXPECT_EQ(
        co_await Text(*rig.pool, Row(first, "status || ' ' || attempts || ' ' || last_error")),
        "pending 1 HTTP 429: Too Many Requests: retry after 1");
    const auto wait_ms = co_await Scalar(
        *rig.pool,
        Row(first, "(extract(epoch FROM next_attempt_at - clock_timestamp()) * 1000)::bigint"));
    EXPECT_GT(wait_ms, 500);
    EXPECT_LE(wait_ms, 1000);
    EXPECT_EQ(co_await Scalar(*rig.pool, Row(second, "attempts")), 0);

    EXPECT_EQ(co_await sender.RunOnce(), 1);  // the second; the first is not due yet
    EXPECT_EQ(co_await Text(*rig.pool, Row(second, "status")), "sent");
    EXPECT_EQ(co_await sender.RunOnce(), 0);
    co_await keel::testing::Sleep(std::chrono::milliseconds(wait_ms + 50));
    EXPECT_EQ(co_await sender.RunOnce(), 1);
    EXPECT_EQ(co_await Text(*rig.pool, Row(first, "status || ' ' || attempts")), "sent 2");
    EXPECT_EQ(co_await SendCalls(*rig.http, fake), 3);
}

KEEL_CORO_TEST(Sender, RefusedMessagesFailAtOnceAndAreNotRetried) {
    FakeTelegram fake({kToken});
    auto rig = co_await MakeRig("notify_400", fake.Base());
    const auto bad_chat = co_await PendingDelivery(*rig.pool, Uuid::V7().ToString(), 1001);
    const auto blocked = co_await PendingDelivery(*rig.pool, Uuid::V7().ToString(), 1002);
    const auto fine = co_await PendingDelivery(*rig.pool, Uuid::V7().ToString(), 1003);
    DeliverySender sender(rig.pool, rig.telegram, SenderOptions{});
    co_await FailNext(*rig.http, fake, 1, 400);
    co_await FailNext(*rig.http, fake, 1, 403);

    EXPECT_EQ(co_await sender.RunOnce(), 3);  // a refusal does not end the pass
    EXPECT_EQ(
        co_await Text(*rig.pool, Row(bad_chat, "status || ' ' || attempts || ' ' || last_error")),
        "failed 1 HTTP 400: Bad Request");
    EXPECT_EQ(co_await Text(*rig.pool, Row(blocked, "status || ' ' || last_error")),
              "failed HTTP 403: Forbidden: bot was blocked by the user");
    EXPECT_EQ(co_await Text(*rig.pool, Row(fine, "status")), "sent");
    co_await keel::testing::Sleep(std::chrono::milliseconds(100));
    EXPECT_EQ(co_await sender.RunOnce(), 0);
    EXPECT_EQ(co_await SendCalls(*rig.http, fake), 3);
}

KEEL_CORO_TEST(Sender, ServerErrorsBackOffExponentiallyAndFailOnTheEighthTry) {
    FakeTelegram fake({kToken});
    auto rig = co_await MakeRig("notify_500", fake.Base());
    const auto order = co_await PendingDelivery(*rig.pool, Uuid::V7().ToString(), 1001);
    SenderOptions options;
    options.backoff_base = std::chrono::milliseconds(200);
    DeliverySender sender(rig.pool, rig.telegram, options);
    co_await FailNext(*rig.http, fake, 8, 500);
    const auto wait_sql =
        Row(order, "(extract(epoch FROM next_attempt_at - clock_timestamp()) * 1000)::bigint");
    std::vector<std::int64_t> waits;
    for (int attempt = 1; attempt <= 7; ++attempt) {
        EXPECT_EQ(co_await sender.RunOnce(), 1);
        EXPECT_EQ(
            co_await Text(*rig.pool, Row(order, "status || ' ' || attempts || ' ' || last_error")),
            "pending " + std::to_string(attempt) + " HTTP 500: Internal Server Error");
        waits.push_back(co_await Scalar(*rig.pool, wait_sql));
        EXPECT_EQ(co_await sender.RunOnce(), 0);  // not due yet
        co_await rig.pool->Execute("UPDATE deliveries SET next_attempt_at = now()");
    }
    if (waits.size() == 7) {
        EXPECT_GT(waits[0], 100);
        EXPECT_LE(waits[0], 200);
        EXPECT_GT(waits[2], 700);     // 800 ms
        EXPECT_GT(waits[6], 12'000);  // 12.8 s
    }
    EXPECT_EQ(co_await sender.RunOnce(), 1);
    EXPECT_EQ(co_await Text(*rig.pool, Row(order, "status || ' ' || attempts")), "failed 8");
    co_await rig.pool->Execute("UPDATE deliveries SET next_attempt_at = now()");
    EXPECT_EQ(co_await sender.RunOnce(), 0);
    EXPECT_EQ(co_await SendCalls(*rig.http, fake), 8);
}

KEEL_CORO_TEST(Sender, AnUnansweringTelegramIsRetriedAndTheTokenNeverRecorded) {
    // Accepts connections (the kernel's backlog) and never answers.
    asio::ip::tcp::acceptor silent(co_await asio::this_coro::executor,
                                   asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const auto base = "http://127.0.0.1:" + std::to_string(silent.local_endpoint().port());
    auto rig = co_await MakeRig("notify_silent", base, std::chrono::milliseconds(300));
    const auto order = co_await PendingDelivery(*rig.pool, Uuid::V7().ToString(), 1001);
    DeliverySender sender(rig.pool, rig.telegram, SenderOptions{});
    EXPECT_EQ(co_await sender.RunOnce(), 1);
    const auto error =
        co_await Text(*rig.pool, Row(order, "status || ' ' || attempts || ' ' || last_error"));
    // host:port only: the path carries the token, and no error text names it
    EXPECT_TRUE(error.starts_with(
        "pending 1 POST 127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + ": "))
        << error;
    EXPECT_EQ(error.find(kToken), std::string::npos) << error;
}

KEEL_CORO_TEST(Sender, TwoSendersSideBySideNeverSendARowTwice) {
    using namespace asio::experimental::awaitable_operators;
    FakeTelegram fake({kToken});
    auto rig = co_await MakeRig("notify_two", fake.Base());
    const auto user = Uuid::V7().ToString();
    co_await Profile(*rig.pool, user, 1001, 1000);
    for (int i = 0; i < 60; ++i)
        co_await Handle(*rig.pool, OnOrderConfirmed,
                        Confirmed(Uuid::V7().ToString(), user, 100 + i));
    SenderOptions options;
    options.batch = 7;
    DeliverySender a(rig.pool, rig.telegram, options);
    DeliverySender b(rig.pool, rig.telegram, options);
    int by_a = 0, by_b = 0;
    for (int round = 0; round < 20; ++round) {
        const auto tried = co_await (a.RunOnce() && b.RunOnce());
        by_a += std::get<0>(tried);
        by_b += std::get<1>(tried);
        if (std::get<0>(tried) + std::get<1>(tried) == 0) break;
    }
    EXPECT_EQ(by_a + by_b, 60);
    EXPECT_GT(by_a, 0);
    EXPECT_GT(by_b, 0);
    EXPECT_EQ(co_await Scalar(*rig.pool, "SELECT count(*) FROM deliveries WHERE status = 'sent'"),
              60);
    const auto messages = co_await FakeCall(*rig.http, fake, http::Verb::get, "/_fake/messages");
    std::set<std::string> texts;
    for (const auto& m : messages.as_array()) texts.insert(std::string(m.at("text").as_string()));
    EXPECT_EQ(messages.as_array().size(), 60u);
    EXPECT_EQ(texts.size(), 60u);
}

KEEL_CORO_TEST(Sender, AFailedPassIsLoggedAndTheLoopGoesOn) {
    pg::PoolOptions options;
    options.dsn = "host=127.0.0.1 port=" + std::to_string(testing::FreePort()) + " user=nobody";
    options.connect_timeout = std::chrono::milliseconds(300);
    auto pool = pg::Pool::Create(co_await asio::this_coro::executor, options);
    auto http = std::make_shared<http::Client>(co_await asio::this_coro::executor);
    const telegram::Settings defaults;
    auto telegram = std::make_shared<telegram::Client>(
        std::make_shared<resilience::Downstream>(http, telegram::DownstreamOptions(defaults)),
        defaults);
    DeliverySender sender(pool, telegram, SenderOptions{});
    std::string escaped;
    try {
        co_await sender.Tick();
        co_await sender.Tick();
    } catch (const std::exception& e) {
        escaped = e.what();
    }
    EXPECT_EQ(escaped, "");
}

}  // namespace
}  // namespace keel::notifications
