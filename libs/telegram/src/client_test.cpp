// The client against the fake Bot API (tests/fakes/telegram), started per test on a free port.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <keel/http/client.hpp>
#include <keel/http/json_body.hpp>
#include <keel/telegram/client.hpp>
#include <keel/telegram/testing/fake_server.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/servers.hpp>

namespace keel::telegram {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Kind = SendOutcome::Kind;
using UpdatesKind = UpdatesOutcome::Kind;

constexpr const char* kToken = "123456:test-token_XYZ";
constexpr const char* kOtherToken = "777:other-bot";

Client MakeClient(std::shared_ptr<http::Client> http, const std::string& base,
                  const std::string& token) {
    Settings settings;
    settings.api_base = base;
    settings.bot_token = token;
    settings.deadline = 2s;
    auto send = std::make_shared<resilience::Downstream>(http, DownstreamOptions(settings));
    return Client(std::move(send), std::move(http), settings);
}

Task<json::value> Control(http::Client& http, const testing::FakeServer& fake, http::Verb verb,
                          std::string path, std::string body = {}) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    const std::string url = fake.Base() + path;
    auto response = co_await http.Send(verb, url, std::move(headers), std::move(body), 5s);
    co_return json::parse(response.body());
}

Task<json::value> Inject(http::Client& http, const testing::FakeServer& fake, std::string token,
                         std::int64_t chat_id, std::string text) {
    const json::value update = json::object{{"token", token},
                                            {"chat_id", chat_id},
                                            {"text", text},
                                            {"from", json::object{{"id", chat_id}}}};
    co_return co_await Control(http, fake, http::Verb::post, "/_fake/updates",
                               http::ToJson(update));
}

TEST(TelegramClient, AnHttpsBaseNeedsAProxy) {
    // The default base needs a proxy: the client speaks plain http only.
    EXPECT_TRUE(Client(nullptr, Settings{}).NeedsProxy());
    Settings fake;
    fake.api_base = "http://127.0.0.1:8081/";
    EXPECT_FALSE(Client(nullptr, fake).NeedsProxy());
}

TEST(TelegramClient, SettingsProblemsNameTheirVariables) {
    Settings bad;
    bad.api_base = "api.telegram.org";
    bad.bot_token = "1:abc/../x";
    const auto problems = CheckSettings(bad, "OPS_API_BASE", "OPS_BOT_TOKEN");
    ASSERT_EQ(problems.size(), 2u);
    EXPECT_NE(problems[0].find("OPS_API_BASE"), std::string::npos);
    EXPECT_NE(problems[1].find("OPS_BOT_TOKEN"), std::string::npos);
    EXPECT_EQ(problems[1].find("abc"), std::string::npos);  // never the token
    Settings good;
    good.bot_token = kToken;
    EXPECT_TRUE(CheckSettings(good).empty());
}

// Telegram unreachable: once the breaker is open a send is "retry after the breaker's wait",
// not one more transient failure, so an outage does not use up a message's attempts.
KEEL_CORO_TEST(TelegramClient, AnOpenBreakerDefersInsteadOfFailing) {
    Settings settings;
    settings.api_base = "http://127.0.0.1:" + std::to_string(keel::testing::FreePort());
    settings.bot_token = "123:secret";
    auto options = DownstreamOptions(settings);
    options.breaker.consecutive_failures = 2;
    telemetry::Registry registry;
    auto http = std::make_shared<http::Client>(co_await asio::this_coro::executor);
    Client telegram(std::make_shared<resilience::Downstream>(http, options, registry), http,
                    settings);
    for (int i = 0; i < 2; ++i)
        EXPECT_EQ((co_await telegram.SendMessage(1, "hi")).kind, Kind::kTransient) << i;
    const auto deferred = co_await telegram.SendMessage(1, "hi");
    EXPECT_EQ(deferred.kind, Kind::kRetryAfter);
    EXPECT_GE(deferred.retry_after, std::chrono::seconds(1));
    EXPECT_NE(deferred.error.find("telegram"), std::string::npos) << deferred.error;
    EXPECT_EQ(deferred.error.find("secret"), std::string::npos);
    // The poll path has no breaker: a refused connection is transient, token redacted.
    const auto polled = co_await telegram.GetUpdates(0, 0s);
    EXPECT_EQ(polled.kind, UpdatesKind::kTransient);
    EXPECT_FALSE(polled.error.empty());
    EXPECT_EQ(polled.error.find("secret"), std::string::npos) << polled.error;
}

KEEL_CORO_TEST(TelegramClient, SendsIntoAThreadWithHtml) {
    testing::FakeServer fake({kToken});
    auto http = std::make_shared<http::Client>(co_await asio::this_coro::executor);
    auto telegram = MakeClient(http, fake.Base(), kToken);
    SendOptions options;
    options.parse_mode = "HTML";
    options.message_thread_id = 17;
    options.disable_notification = true;
    const auto sent = co_await telegram.SendMessage(-1001, "<b>down</b>", options);
    EXPECT_EQ(sent.kind, Kind::kSent) << sent.error;
    EXPECT_TRUE(sent.message_id);
    auto messages =
        co_await Control(*http, fake, http::Verb::get, "/_fake/messages?message_thread_id=17");
    EXPECT_EQ(messages.as_array().size(), 1u);
    if (messages.as_array().size() != 1) co_return;
    const auto& m = messages.as_array()[0].as_object();
    EXPECT_EQ(m.at("chat_id").as_int64(), -1001);
    EXPECT_EQ(m.at("parse_mode").as_string(), "HTML");
    EXPECT_EQ(m.at("disable_notification").as_bool(), true);
    // Broken HTML is refused for good, like Telegram does.
    const auto broken = co_await telegram.SendMessage(-1001, "<b>down", options);
    EXPECT_EQ(broken.kind, Kind::kRejected);
    EXPECT_NE(broken.error.find("can't parse entities"), std::string::npos) << broken.error;
}

KEEL_CORO_TEST(TelegramClient, LongPollReturnsWhenAMessageArrives) {
    testing::FakeServer fake({kToken, kOtherToken});
    auto http = std::make_shared<http::Client>(co_await asio::this_coro::executor);
    auto telegram = MakeClient(http, fake.Base(), kToken);
    // Nothing queued: a short long poll runs out with no updates.
    const auto empty = co_await telegram.GetUpdates(0, 1s);
    EXPECT_EQ(empty.kind, UpdatesKind::kOk) << empty.error;
    EXPECT_TRUE(empty.updates.empty());

    co_await Inject(*http, fake, kOtherToken, 5, "for the other bot");
    co_await Inject(*http, fake, kToken, 42, "/start abc");
    const auto started = std::chrono::steady_clock::now();
    const auto got = co_await telegram.GetUpdates(0, 20s);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);  // not the whole long poll
    EXPECT_EQ(got.kind, UpdatesKind::kOk) << got.error;
    EXPECT_EQ(got.updates.size(), 1u);  // each bot has its own queue
    if (got.updates.size() != 1 || !got.updates[0].message) co_return;
    EXPECT_EQ(got.updates[0].message->chat_id, 42);
    EXPECT_EQ(got.updates[0].message->chat_type, "private");
    EXPECT_EQ(got.updates[0].message->from_id, 42);
    EXPECT_EQ(got.updates[0].message->text, "/start abc");

    // An offset past it confirms it: it is not delivered again.
    const auto offset = NextOffset(got.updates, 0);
    const auto again = co_await telegram.GetUpdates(offset, 0s);
    EXPECT_EQ(again.kind, UpdatesKind::kOk);
    EXPECT_TRUE(again.updates.empty());

    // A wrong token is a configuration problem, not a transient one.
    auto stranger = MakeClient(http, fake.Base(), "9:unknown");
    const auto refused = co_await stranger.GetUpdates(0, 0s);
    EXPECT_EQ(refused.kind, UpdatesKind::kRejected);
    EXPECT_EQ(refused.error.find("unknown"), std::string::npos) << refused.error;
}

}  // namespace
}  // namespace keel::telegram
