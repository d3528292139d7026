#include <gtest/gtest.h>

#include <boost/json/serialize.hpp>

#include <keel/bus/codec.hpp>

#include "profile.hpp"
#include "profile_store.hpp"

namespace keel::account {
namespace {

namespace json = boost::json;

TEST(DisplayName, OneToAHundredCharactersWithoutControls) {
    EXPECT_EQ(DisplayNameProblem("Ann Lee"), "");
    std::string hundred_cyrillic;
    for (int i = 0; i < 100; ++i) hundred_cyrillic += "ж";  // 2 bytes each
    EXPECT_EQ(DisplayNameProblem(hundred_cyrillic), "");
    EXPECT_EQ(DisplayNameProblem(hundred_cyrillic + "x"),
              "must be 1 to 100 characters long (not only spaces)");
    EXPECT_EQ(DisplayNameProblem(""), "must be 1 to 100 characters long (not only spaces)");
    for (const char* bad : {"a\nb", "tab\there", "a\x7f", "a\u0085"})
        EXPECT_EQ(DisplayNameProblem(bad), "must not contain control characters") << bad;
    EXPECT_EQ(TrimSpaces(" \t Ann Lee \t"), "Ann Lee");
    EXPECT_EQ(TrimSpaces("   "), "");
}

TEST(TelegramChat, ZeroIsNoChat) {
    EXPECT_EQ(TelegramChatProblem(0), "must not be 0");
    EXPECT_EQ(TelegramChatProblem(-1001234567890), "");
    EXPECT_EQ(TelegramChatProblem(kMaxChatIdMagnitude), "");
}

TEST(Utf8Length, CountsCodePointsNotBytes) { EXPECT_EQ(Utf8Length("жx€😀"), 4u); }

TEST(Profile, DefaultDisplayNameIsTheLocalPart) {
    EXPECT_EQ(DefaultDisplayName("ann.lee@example.com"), "ann.lee");
    EXPECT_EQ(DefaultDisplayName(std::string(120, 'a') + "@x.io"), std::string(100, 'a'));
    std::string long_utf8;
    for (int i = 0; i < 101; ++i) long_utf8 += "ж";
    EXPECT_EQ(Utf8Length(DefaultDisplayName(long_utf8 + "@x.io")), 100u);
}

TEST(Profile, EventPayloadMatchesTheSchema) {
    Profile p{"0190a5a4-0000-7000-8000-000000000001", "ann@example.com", "ann", std::nullopt,
              1'700'000'000'123};
    const auto& codec = bus::Codec::Embedded();
    const json::value unlinked = ToEventPayload(p);
    EXPECT_EQ(codec.Decode(kProfileUpdated, codec.Encode(kProfileUpdated, unlinked)), unlinked);
    p.telegram_chat_id = -1001234567890;
    const json::value linked = ToEventPayload(p);
    EXPECT_EQ(codec.Decode(kProfileUpdated, codec.Encode(kProfileUpdated, linked)), linked);
    EXPECT_EQ(json::serialize(ToJsonObject(p)),
              R"({"user_id":"0190a5a4-0000-7000-8000-000000000001","email":"ann@example.com",)"
              R"("display_name":"ann","telegram_chat_id":-1001234567890})");
}

}  // namespace
}  // namespace keel::account
