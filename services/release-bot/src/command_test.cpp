#include <gtest/gtest.h>

#include "allow_list.hpp"
#include "command.hpp"

namespace keel::release_bot {
namespace {

using Kind = Command::Kind;

TEST(ParseCommand, ReadsTheFourCommands) {
    EXPECT_EQ(ParseCommand("/status", "ops_bot").kind, Kind::kStatus);
    EXPECT_EQ(ParseCommand("/history", "ops_bot").kind, Kind::kHistory);
    const auto release = ParseCommand("  /release   catalog \n", "ops_bot");
    EXPECT_EQ(release.kind, Kind::kRelease);
    EXPECT_EQ(release.service, "catalog");
    const auto rollback = ParseCommand("/rollback alert-relay", "ops_bot");
    EXPECT_EQ(rollback.kind, Kind::kRollback);
    EXPECT_EQ(rollback.service, "alert-relay");
}

TEST(ParseCommand, AddressedCommandsAreForThisBotOnly) {
    EXPECT_EQ(ParseCommand("/status@ops_bot", "ops_bot").kind, Kind::kStatus);
    EXPECT_EQ(ParseCommand("/release@ops_bot catalog", "ops_bot").service, "catalog");
    EXPECT_EQ(ParseCommand("/status@other_bot", "ops_bot").kind, Kind::kIgnore);
    EXPECT_EQ(ParseCommand("/status@OPS_Bot", "ops_bot").kind, Kind::kStatus);
    // Without its own username the bot cannot tell: a command addressed by name is not obeyed.
    EXPECT_EQ(ParseCommand("/status@any_bot", "").kind, Kind::kIgnore);
    EXPECT_EQ(ParseCommand("/status", "").kind, Kind::kStatus);
}

TEST(ParseCommand, PlainTextIsIgnored) {
    EXPECT_EQ(ParseCommand("", "b").kind, Kind::kIgnore);
    EXPECT_EQ(ParseCommand("release catalog please", "b").kind, Kind::kIgnore);
    EXPECT_EQ(ParseCommand("/", "b").kind, Kind::kIgnore);
}

TEST(ParseCommand, UnknownCommandsGetHelpSayingWhich) {
    const auto c = ParseCommand("/deploy catalog", "b");
    EXPECT_EQ(c.kind, Kind::kHelp);
    EXPECT_EQ(c.error, "unknown command /deploy");
    EXPECT_EQ(ParseCommand("/help", "b").kind, Kind::kHelp);
    EXPECT_TRUE(ParseCommand("/help", "b").error.empty());
    EXPECT_TRUE(ParseCommand("/start", "b").error.empty());
}

TEST(ParseCommand, WrongArgumentsAreUsageErrors) {
    EXPECT_EQ(ParseCommand("/release", "b").kind, Kind::kUsage);
    EXPECT_EQ(ParseCommand("/release", "b").error,
              "usage: /release SERVICE (e.g. /release catalog)");
    EXPECT_EQ(ParseCommand("/release a b", "b").kind, Kind::kUsage);
    EXPECT_EQ(ParseCommand("/rollback ../etc", "b").kind, Kind::kUsage);
    EXPECT_EQ(ParseCommand("/rollback Catalog", "b").kind, Kind::kUsage);
    EXPECT_EQ(ParseCommand("/release 1catalog", "b").kind, Kind::kUsage);
    EXPECT_EQ(ParseCommand("/status now", "b").kind, Kind::kUsage);
    EXPECT_EQ(ParseCommand("/release " + std::string(64, 'a'), "b").kind, Kind::kUsage);
    EXPECT_EQ(ParseCommand("/release " + std::string(63, 'a'), "b").kind, Kind::kRelease);
}

TEST(AllowList, ParsesChatIds) {
    std::string error;
    const AllowList failed({99});  // what a failed parse leaves
    const auto list = AllowList::Parse(" -1001234567890, 42 ,7", &error).value_or(failed);
    EXPECT_TRUE(error.empty()) << error;
    EXPECT_TRUE(list.Allows(-1001234567890));
    EXPECT_TRUE(list.Allows(42));
    EXPECT_TRUE(list.Allows(7));
    EXPECT_FALSE(list.Allows(43));
    EXPECT_FALSE(list.Allows(1001234567890));
    EXPECT_EQ(list.Chats().size(), 3u);
}

TEST(AllowList, EmptyAllowsNobody) {
    const AllowList failed({99});
    const auto list = AllowList::Parse("", nullptr).value_or(failed);
    EXPECT_TRUE(list.Chats().empty());
    EXPECT_FALSE(list.Allows(42));
}

TEST(AllowList, RefusesWhatIsNotAChatId) {
    std::string error;
    EXPECT_FALSE(AllowList::Parse("42,abc", &error).has_value());
    EXPECT_EQ(error, "not a chat id: 'abc'");
    EXPECT_FALSE(AllowList::Parse("42,,43", &error).has_value());
    EXPECT_FALSE(AllowList::Parse("42x", &error).has_value());
    EXPECT_FALSE(AllowList::Parse("0", &error).has_value());
    EXPECT_FALSE(AllowList::Parse("99999999999999999999", &error).has_value());
}

}  // namespace
}  // namespace keel::release_bot
