#include <gtest/gtest.h>

#include "account_links.hpp"
#include "link_commands.hpp"

namespace keel::notifications {
namespace {

using Kind = BotCommand::Kind;

telegram::Message Private(std::string text) {
    telegram::Message m;
    m.chat_id = 42;
    m.chat_type = "private";
    m.text = std::move(text);
    return m;
}

TEST(BotCommands, StartWithATokenLinks) {
    const auto link = ReadBotCommand(Private("/start AbC-_09"));
    EXPECT_EQ(link.kind, Kind::kLink);
    EXPECT_EQ(link.token, "AbC-_09");
    EXPECT_EQ(ReadBotCommand(Private("  /start@keel_bot   tok \n")).token, "tok");
}

TEST(BotCommands, AnythingElseInPrivateGetsHelp) {
    for (const char* text : {"/start", "/start ", "hello", "/started x", "/start a b", "/help"})
        EXPECT_EQ(ReadBotCommand(Private(text)).kind, Kind::kHelp) << text;
}

TEST(BotCommands, GroupsAndEmptyMessagesAreIgnored) {
    auto group = Private("/start tok");
    group.chat_type = "supergroup";
    EXPECT_EQ(ReadBotCommand(group).kind, Kind::kIgnore);
    EXPECT_EQ(ReadBotCommand(Private("")).kind, Kind::kIgnore);  // a sticker, a photo
}

TEST(AccountLinkReply, OutcomesAndFailures) {
    const auto linked = ParseLinkReply(200, R"({"outcome":"linked","user_id":"u"})");
    EXPECT_EQ(linked.kind, LinkReply::Kind::kLinked);
    for (const char* refused : {"unknown", "expired", "used"}) {
        const auto r = ParseLinkReply(200, std::string(R"({"outcome":")") + refused + "\"}");
        EXPECT_EQ(r.kind, LinkReply::Kind::kRefused) << refused;
        EXPECT_EQ(r.outcome, refused);
    }
    // Never "invalid link" to the user for account's own trouble: the update waits.
    for (unsigned status : {401u, 404u, 422u, 500u, 503u})
        EXPECT_EQ(ParseLinkReply(status, "{}").kind, LinkReply::Kind::kFailed) << status;
    EXPECT_EQ(ParseLinkReply(200, "<html>").kind, LinkReply::Kind::kFailed);
    EXPECT_EQ(ParseLinkReply(200, R"({"outcome":1})").kind, LinkReply::Kind::kFailed);
}

}  // namespace
}  // namespace keel::notifications
