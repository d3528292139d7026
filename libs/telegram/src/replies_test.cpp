#include <gtest/gtest.h>

#include <keel/telegram/replies.hpp>

namespace keel::telegram {
namespace {

using Kind = SendOutcome::Kind;
using UpdatesKind = UpdatesOutcome::Kind;

TEST(SendMessageReply, SentWithItsMessageId) {
    auto sent = ClassifySendMessageReply(
        200, R"({"ok":true,"result":{"message_id":77,"chat":{"id":5},"text":"x"}})");
    EXPECT_EQ(sent.kind, Kind::kSent);
    EXPECT_EQ(sent.message_id, 77);
    EXPECT_EQ(ClassifySendMessageReply(200, "not json").kind, Kind::kSent);
}

TEST(SendMessageReply, TooManyRequestsSaysWhenToComeBack) {
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

TEST(SendMessageReply, RefusalsAreFinalAndTheRestIsRetried) {
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

TEST(GetUpdatesReply, ReadsMessagesAndKeepsUpdatesWithout) {
    const auto out = ParseGetUpdatesReply(200, R"({"ok":true,"result":[
        {"update_id":12,"edited_message":{"message_id":3,"chat":{"id":5,"type":"private"}}},
        {"update_id":11,"message":{"message_id":2,"message_thread_id":9,
         "from":{"id":42,"is_bot":false,"username":"ann"},
         "chat":{"id":-100,"type":"supergroup"},"text":"/status"}},
        {"update_id":13,"message":{"message_id":4,"chat":{"id":6,"type":"private"}}},
        {"no_update_id":true}]})");
    ASSERT_EQ(out.kind, UpdatesKind::kOk);
    ASSERT_EQ(out.updates.size(), 3u);
    const auto& first = out.updates[0];
    EXPECT_EQ(first.update_id, 11);
    ASSERT_TRUE(first.message);
    EXPECT_EQ(first.message->message_id, 2);
    EXPECT_EQ(first.message->chat_id, -100);
    EXPECT_EQ(first.message->chat_type, "supergroup");
    EXPECT_EQ(first.message->message_thread_id, 9);
    EXPECT_EQ(first.message->from_id, 42);
    EXPECT_EQ(first.message->from_username, "ann");
    EXPECT_EQ(first.message->text, "/status");
    EXPECT_FALSE(out.updates[1].message);  // an edit: confirmed, not read
    ASSERT_TRUE(out.updates[2].message);
    EXPECT_EQ(out.updates[2].message->text, "");
    EXPECT_FALSE(out.updates[2].message->from_id);
    EXPECT_EQ(NextOffset(out.updates, 0), 14);
    EXPECT_EQ(NextOffset({}, 7), 7);
}

TEST(GetUpdatesReply, ClassifiesFailures) {
    const auto conflict = ParseGetUpdatesReply(
        409,
        R"({"ok":false,"error_code":409,"description":"Conflict: terminated by other getUpdates request"})");
    EXPECT_EQ(conflict.kind, UpdatesKind::kConflict);
    EXPECT_EQ(conflict.error, "HTTP 409: Conflict: terminated by other getUpdates request");
    const auto flood = ParseGetUpdatesReply(
        429, R"({"ok":false,"error_code":429,"parameters":{"retry_after":4}})");
    EXPECT_EQ(flood.kind, UpdatesKind::kRetryAfter);
    EXPECT_EQ(flood.retry_after, std::chrono::seconds(4));
    EXPECT_EQ(ParseGetUpdatesReply(401, "{}").kind, UpdatesKind::kRejected);
    EXPECT_EQ(ParseGetUpdatesReply(404, "{}").kind, UpdatesKind::kRejected);
    EXPECT_EQ(ParseGetUpdatesReply(502, "<html>").kind, UpdatesKind::kTransient);
    EXPECT_EQ(ParseGetUpdatesReply(200, "not json").kind, UpdatesKind::kTransient);
    EXPECT_EQ(ParseGetUpdatesReply(200, R"({"ok":true,"result":{}})").kind,
              UpdatesKind::kTransient);
}

}  // namespace
}  // namespace keel::telegram
