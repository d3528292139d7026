#include <gtest/gtest.h>

#include <string>
#include <vector>

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

// 43 characters of base64url, as account issues them
constexpr const char* kToken = "AbC-_09AbC-_09AbC-_09AbC-_09AbC-_09AbC-_09A";

TEST(BotCommands, StartWithATokenLinks) {
    const auto link = ReadBotCommand(Private(std::string("/start ") + kToken));
    EXPECT_EQ(link.kind, Kind::kLink);
    EXPECT_EQ(link.token, kToken);
    EXPECT_EQ(ReadBotCommand(Private(std::string("  /start@keel_bot   ") + kToken + " \n")).token,
              kToken);
}

TEST(BotCommands, APayloadThatIsNoTokenIsRefusedWithoutAskingAccount) {
    const std::string too_long(300, 'a');
    const std::vector<std::string> texts = {"/start tok", "/start " + too_long,
                                            std::string("/start ") + kToken + "=",
                                            "/start <b>x</b>"};
    for (const auto& text : texts) {
        const auto command = ReadBotCommand(Private(text));
        EXPECT_EQ(command.kind, Kind::kNotAToken) << text;
        EXPECT_TRUE(command.token.empty());
    }
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
