#include <gtest/gtest.h>

#include <keel/http/client.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/servers.hpp>

#include "telegram.hpp"

namespace keel::notifications {
namespace {

using Kind = SendOutcome::Kind;

TEST(TelegramReply, SentWithItsMessageId) {
    auto sent = ClassifySendMessageReply(
        200, R"({"ok":true,"result":{"message_id":77,"chat":{"id":5},"text":"x"}})");
    EXPECT_EQ(sent.kind, Kind::kSent);
    EXPECT_EQ(sent.message_id, 77);
    EXPECT_EQ(ClassifySendMessageReply(200, "not json").kind, Kind::kSent);
}

TEST(TelegramReply, TooManyRequestsSaysWhenToComeBack) {
    auto body = ClassifySendMessageReply(
        429,
        R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}})",
        "3");
    EXPECT_EQ(body.kind, Kind::kRetryAfter);
    EXPECT_EQ(body.retry_after, std::chrono::seconds(7));
    EXPECT_EQ(body.error, "HTTP 429: Too Many Requests: retry after 7");
    EXPECT_EQ(ClassifySendMessageReply(429, "{}", "3").retry_after, std::chrono::seconds(3));
    EXPECT_EQ(ClassifySendMessageReply(429, "", "").retry_after, std::chrono::seconds(1));
}

TEST(TelegramReply, RefusalsAreFinalAndTheRestIsRetried) {
    auto blocked = ClassifySendMessageReply(
        403,
        R"({"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"})");
    EXPECT_EQ(blocked.kind, Kind::kRejected);
    EXPECT_EQ(blocked.error, "HTTP 403: Forbidden: bot was blocked by the user");
    EXPECT_EQ(ClassifySendMessageReply(400, R"({"ok":false,"error_code":400})").kind,
              Kind::kRejected);
    for (unsigned status : {500u, 502u, 503u, 401u, 404u, 409u}) {
        EXPECT_EQ(ClassifySendMessageReply(status, "<html>").kind, Kind::kTransient) << status;
    }
    EXPECT_EQ(ClassifySendMessageReply(502, "<html>bad gateway</html>").error,
              "HTTP 502: <html>bad gateway</html>");
}

TEST(TelegramClient, AnHttpsBaseNeedsAProxy) {
    // The default base needs a proxy: the client speaks plain http only.
    EXPECT_TRUE(TelegramClient(nullptr, TelegramSettings{}).NeedsProxy());
    TelegramSettings fake;
    fake.api_base = "http://127.0.0.1:8081/";
    EXPECT_FALSE(TelegramClient(nullptr, fake).NeedsProxy());
}

// Telegram unreachable: once the breaker is open a send is "retry after the breaker's wait",
// not one more transient failure, so an outage does not use up a message's attempts.
KEEL_CORO_TEST(TelegramClient, AnOpenBreakerDefersInsteadOfFailing) {
    TelegramSettings settings;
    settings.api_base = "http://127.0.0.1:" + std::to_string(testing::FreePort());
    settings.bot_token = "123:secret";
    auto options = TelegramDownstreamOptions(settings);
    options.breaker.consecutive_failures = 2;
    telemetry::Registry registry;
    auto http = std::make_shared<http::Client>(co_await asio::this_coro::executor);
    TelegramClient telegram(std::make_shared<resilience::Downstream>(http, options, registry),
                            settings);
    for (int i = 0; i < 2; ++i)
        EXPECT_EQ((co_await telegram.SendMessage(1, "hi")).kind, Kind::kTransient) << i;
    const auto deferred = co_await telegram.SendMessage(1, "hi");
    EXPECT_EQ(deferred.kind, Kind::kRetryAfter);
    EXPECT_GE(deferred.retry_after, std::chrono::seconds(1));
    EXPECT_NE(deferred.error.find("telegram"), std::string::npos) << deferred.error;
    EXPECT_EQ(deferred.error.find("secret"), std::string::npos);
}

}  // namespace
}  // namespace keel::notifications
