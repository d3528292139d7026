#include <gtest/gtest.h>

#include <keel/core/config.hpp>
#include <keel/testing/openapi.hpp>

#include "delivery_text.hpp"
#include "routes.hpp"
#include "sender.hpp"
#include "settings.hpp"
#include "telegram.hpp"

namespace keel::notifications {
namespace {

using Kind = SendOutcome::Kind;

TEST(NotificationsRoutes, MatchOpenApi) {
    const auto router = MakeRouter(std::make_shared<NotificationsContext>());
    EXPECT_EQ(testing::RouterOperations(router),
              testing::OpenApiOperations(KEEL_SOURCE_DIR "/services/notifications/openapi.yaml"));
}

TEST(Amount, FormatsMinorUnitsByCurrency) {
    EXPECT_EQ(FormatAmount(1200, "USD"), "12.00 USD");
    EXPECT_EQ(FormatAmount(5, "EUR"), "0.05 EUR");
    EXPECT_EQ(FormatAmount(0, "EUR"), "0.00 EUR");
    EXPECT_EQ(FormatAmount(-1999, "EUR"), "-19.99 EUR");
    EXPECT_EQ(FormatAmount(500, "JPY"), "500 JPY");
    EXPECT_EQ(FormatAmount(1234, "KWD"), "1.234 KWD");
    EXPECT_EQ(FormatAmount(INT64_MAX, "USD"), "92233720368547758.07 USD");
    EXPECT_EQ(FormatAmount(INT64_MIN, "USD"), "-92233720368547758.08 USD");
}

TEST(Texts, NameTheOrderTheAmountAndTheReceipt) {
    const std::string order = "0190a5a4-0000-7000-8000-000000000001";
    EXPECT_EQ(OrderConfirmedText(order, 1200, "USD"),
              "Order " + order + " is confirmed. Total: 12.00 USD.");
    EXPECT_EQ(OrderCancelledText(order, 1200, "USD", "payment declined"),
              "Order " + order + " (12.00 USD) was cancelled: payment declined.");
    EXPECT_EQ(ReceiptIssuedText(42, order, 1200, "USD"),
              "Receipt No. 42 for order " + order + ": 12.00 USD.");
    std::string long_reason;
    for (int i = 0; i < 300; ++i) long_reason += "ж";
    const auto cancelled = OrderCancelledText(order, 1, "USD", long_reason);
    EXPECT_LT(cancelled.size(), 100 + 200 * 2u);
    EXPECT_EQ(cancelled.back(), '.');
}

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

TEST(Sender, BackoffDoublesUpToItsCap) {
    SenderOptions o;
    o.backoff_base = std::chrono::milliseconds(1000);
    o.backoff_max = std::chrono::milliseconds(30'000);
    EXPECT_EQ(Backoff(1, o).count(), 1000);
    EXPECT_EQ(Backoff(2, o).count(), 2000);
    EXPECT_EQ(Backoff(5, o).count(), 16'000);
    EXPECT_EQ(Backoff(6, o).count(), 30'000);
    EXPECT_EQ(Backoff(1000, o).count(), 30'000);
}

core::EnvConfig Env(std::map<std::string, std::string> values) {
    return core::EnvConfig([values](const std::string& name) -> std::optional<std::string> {
        auto it = values.find(name);
        if (it == values.end()) return std::nullopt;
        return it->second;
    });
}

TEST(Settings, DefaultsAndProblems) {
    auto config =
        Env({{"AUTH_JWKS_URL", "http://127.0.0.1:1/jwks"}, {"TELEGRAM_BOT_TOKEN", "1:abc"}});
    const auto s = ReadSettings(config);
    EXPECT_NO_THROW(config.Finish());
    EXPECT_NO_THROW(ThrowOnProblems(s));
    EXPECT_EQ(s.telegram.api_base, "https://api.telegram.org");
    EXPECT_EQ(s.sender.batch, 20);
    EXPECT_EQ(s.tokens.verify.issuer, "keel-auth");
    EXPECT_EQ(s.tokens.jwks_url, "http://127.0.0.1:1/jwks");
    // The default base needs a proxy: the client speaks plain http only.
    EXPECT_TRUE(TelegramClient(nullptr, s.telegram).NeedsProxy());
    TelegramSettings fake;
    fake.api_base = "http://127.0.0.1:8081/";
    EXPECT_FALSE(TelegramClient(nullptr, fake).NeedsProxy());

    auto missing = Env({{"AUTH_JWKS_URL", "http://x/jwks"}});
    ReadSettings(missing);
    EXPECT_THROW(missing.Finish(), core::ConfigError);

    Settings bad = s;
    bad.telegram.api_base = "api.telegram.org";
    bad.telegram.bot_token = "1:abc/../x";
    try {
        ThrowOnProblems(bad);
        ADD_FAILURE() << "accepted a malformed base and token";
    } catch (const core::ConfigError& e) {
        EXPECT_EQ(e.Problems().size(), 2u);
        EXPECT_EQ(std::string(e.what()).find("1:abc"), std::string::npos);  // no token echoed
    }
}

}  // namespace
}  // namespace keel::notifications
