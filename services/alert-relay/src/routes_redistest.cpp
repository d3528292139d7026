// The webhook route as Alertmanager calls it, with the real Telegram client against the fake Bot
// API (tests/fakes/telegram, started per test) and a real Redis.
#include <boost/json/parse.hpp>

#include <keel/core/uuid.hpp>
#include <keel/http/client.hpp>
#include <keel/telegram/client.hpp>
#include <keel/telegram/testing/fake_server.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/routes.hpp>
#include <keel/testing/servers.hpp>

#include "ops_chat.hpp"
#include "routes.hpp"

namespace keel::alert_relay {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kToken = "424242:ops-bot_token";
constexpr std::int64_t kChat = -1001000000001;

std::string WebhookBody(const std::string& status) {
    const std::string ends = status == "resolved" ? "2026-11-30T12:03:00Z" : "0001-01-01T00:00:00Z";
    return R"({"version":"4","groupKey":"{}:{alertname=\"ServiceDown\"}","status":")" + status +
           R"(","receiver":"alert-relay","alerts":[{"status":")" + status +
           R"(","labels":{"alertname":"ServiceDown","service":"catalog","severity":"critical"},)"
           R"("annotations":{"summary":"0 < 2 catalog instances up & serving"},)"
           R"("startsAt":"2026-11-30T12:00:00Z","endsAt":")" +
           ends +
           R"(","generatorURL":"http://127.0.0.1:8880/x","fingerprint":"4f2a9c1d0e7b3a65"}]})";
}

struct Stack {
    telegram::testing::FakeServer fake{kToken};
    std::shared_ptr<http::Client> http;
    http::Router router;
    telemetry::Registry registry;

    explicit Stack(const asio::any_io_executor& ex) : http(std::make_shared<http::Client>(ex)) {
        telegram::Settings settings;
        settings.api_base = fake.Base();
        settings.bot_token = kToken;
        settings.deadline = 2s;
        auto client = std::make_shared<telegram::Client>(
            std::make_shared<resilience::Downstream>(http, telegram::DownstreamOptions(settings)),
            settings);
        redis::ClientOptions redis;
        redis.port = testing::RedisServer::Shared().Port();
        LedgerOptions ledger;
        ledger.prefix = "test-" + Uuid::V7().ToString() + ":";
        auto ledger_ptr =
            std::make_shared<AlertLedger>(redis::Client::Create(ex, redis), ledger,
                                          [] { return std::chrono::system_clock::now(); });
        RelayOptions options;
        std::vector<std::string> problems;
        options.threads = ThreadMap::Parse("catalog=11,critical=2,default=1", problems);
        options.first_backoff = 10ms;
        router = MakeRouter(std::make_shared<Relay>(
            std::move(ledger_ptr), OpsChatSender(client, kChat), options, registry));
    }

    Task<testing::RouteReply> Post(std::string body) {
        const http::Principal alertmanager{"service", "service"};
        co_return co_await testing::CallRoute(router, http::Verb::post, "/internal/alertmanager",
                                              std::move(body), alertmanager);
    }

    Task<json::array> Messages() {
        const auto url = fake.Base() + "/_fake/messages?chat_id=" + std::to_string(kChat);
        std::vector<std::pair<std::string, std::string>> no_headers;
        auto response = co_await http->Send(http::Verb::get, url, std::move(no_headers), "", 5s);
        co_return json::parse(response.body()).as_array();
    }

    Task<void> FailNext(int count, int status) {
        std::vector<std::pair<std::string, std::string>> headers;
        headers.emplace_back("Content-Type", "application/json");
        const auto body =
            R"({"count":)" + std::to_string(count) + R"(,"status":)" + std::to_string(status) + "}";
        co_await http->Send(http::Verb::post, fake.Base() + "/_fake/fail", std::move(headers), body,
                            5s);
    }
};

KEEL_CORO_TEST(AlertRelayWebhook, SendsEachStateChangeOnceInTheServicesThread) {
    Stack stack(co_await asio::this_coro::executor);
    const auto fired = co_await stack.Post(WebhookBody("firing"));
    EXPECT_EQ(fired.status, http::Status::ok) << fired.body;
    EXPECT_EQ(fired.body, R"({"received":1,"sent":1,"deduplicated":0,"throttled":0})");
    const auto repeated = co_await stack.Post(WebhookBody("firing"));
    EXPECT_EQ(repeated.body, R"({"received":1,"sent":0,"deduplicated":1,"throttled":0})");

    const auto messages = co_await stack.Messages();
    EXPECT_EQ(messages.size(), 1u);
    if (messages.size() != 1u) co_return;
    const auto& m = messages[0].as_object();
    EXPECT_EQ(m.at("message_thread_id").as_int64(), 11);
    EXPECT_EQ(m.at("parse_mode").as_string(), "HTML");
    const std::string text(m.at("text").as_string());
    EXPECT_NE(text.find("<i>0 &lt; 2 catalog instances up &amp; serving</i>"), std::string::npos)
        << text;
}

KEEL_CORO_TEST(AlertRelayWebhook, TelegramDownIsA503AndTheRetrySendsOnce) {
    Stack stack(co_await asio::this_coro::executor);
    co_await stack.Post(WebhookBody("firing"));
    co_await stack.FailNext(3, 502);  // every attempt of the resolved message
    const auto failed = co_await stack.Post(WebhookBody("resolved"));
    EXPECT_EQ(failed.status, http::Status::service_unavailable) << failed.body;
    EXPECT_NE(failed.body.find("telegram_unavailable"), std::string::npos);
    EXPECT_EQ((co_await stack.Messages()).size(), 1u);

    const auto retried = co_await stack.Post(WebhookBody("resolved"));
    EXPECT_EQ(retried.status, http::Status::ok) << retried.body;
    const auto again = co_await stack.Post(WebhookBody("resolved"));
    EXPECT_EQ(again.body, R"({"received":1,"sent":0,"deduplicated":1,"throttled":0})");
    const auto messages = co_await stack.Messages();
    EXPECT_EQ(messages.size(), 2u);
    if (messages.size() != 2u) co_return;
    EXPECT_NE(std::string(messages[1].as_object().at("text").as_string()).find("RESOLVED"),
              std::string::npos);
}

}  // namespace
}  // namespace keel::alert_relay
