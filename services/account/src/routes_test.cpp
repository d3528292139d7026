#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <keel/http/message.hpp>
#include <keel/testing/openapi.hpp>

#include "profile.hpp"
#include "routes.hpp"
#include "settings.hpp"
#include "telegram_link.hpp"

namespace keel::account {
namespace {

namespace json = boost::json;

TEST(AccountRoutes, MatchOpenApi) {
    EXPECT_TRUE(testing::MatchesOpenApi(MakeRouter(std::make_shared<AccountContext>()),
                                        "services/account/openapi.yaml"));
}

ProfilePatch Read(std::string_view body) { return ReadProfilePatch(json::parse(body).as_object()); }

// The 422's `errors` member, or "" when the body was accepted.
std::string Problems(std::string_view body) {
    try {
        Read(body);
    } catch (const http::HttpError& e) {
        EXPECT_EQ(e.GetStatus(), http::Status::unprocessable_entity);
        return e.ExtraMembers();
    }
    return "";
}

TEST(ProfilePatchInput, ReadsEachFieldAndLeavesAbsentOnesAlone) {
    auto name_only = Read(R"({"display_name":"  Ann Lee "})");
    EXPECT_EQ(name_only.display_name, "Ann Lee");
    EXPECT_FALSE(name_only.set_telegram_chat);

    auto unlink = Read(R"({"telegram_chat_id":null})");
    EXPECT_TRUE(unlink.set_telegram_chat);
    EXPECT_FALSE(unlink.telegram_chat_id);
    EXPECT_FALSE(unlink.Empty());

    EXPECT_TRUE(Read("{}").Empty());
}

// A chat is linked only through the bot (a one-time link): a chat id from the client is
// refused with a 400 that says how, whatever else the body holds.
TEST(ProfilePatchInput, RefusesAChatIdAndSaysHowToLink) {
    for (const char* body : {R"({"telegram_chat_id":-1001234567890})",
                             R"({"telegram_chat_id":42,"display_name":"Ann"})",
                             R"({"telegram_chat_id":0})", R"({"telegram_chat_id":"42"})",
                             R"({"telegram_chat_id":4503599627370496,"display_name":""})"}) {
        try {
            Read(body);
            ADD_FAILURE() << "accepted " << body;
        } catch (const http::HttpError& e) {
            EXPECT_EQ(e.GetStatus(), http::Status::bad_request) << body;
            EXPECT_NE(e.Detail().find("POST /api/account/me/telegram-link"), std::string::npos);
        }
    }
}

TEST(LinkClaimInput, ReadsAllThreeOrListsWhatIsWrong) {
    const auto claim =
        ReadLinkClaim(json::parse(R"({"token":"abc","chat_id":42,"update_id":7})").as_object());
    EXPECT_EQ(claim.token, "abc");
    EXPECT_EQ(claim.chat_id, 42);
    EXPECT_EQ(claim.update_id, 7);
    try {
        ReadLinkClaim(json::parse(R"({"chat_id":"42","extra":1})").as_object());
        ADD_FAILURE() << "accepted a bad claim";
    } catch (const http::HttpError& e) {
        EXPECT_EQ(e.GetStatus(), http::Status::unprocessable_entity);
        for (const char* field : {"token", "chat_id", "update_id", "extra"})
            EXPECT_NE(e.ExtraMembers().find(std::string("\"field\":\"") + field + "\""),
                      std::string::npos)
                << field << " in " << e.ExtraMembers();
    }
}

TEST(LinkSettingsInput, DefaultsAndBadUsernames) {
    core::EnvConfig defaults([](const std::string&) { return std::optional<std::string>(); });
    const auto s = ReadLinkSettings(defaults);
    defaults.Finish();
    EXPECT_EQ(s.ttl, std::chrono::seconds(600));
    EXPECT_EQ(DeepLink(s, "T0k"), "https://t.me/keel_fake_bot?start=T0k");
    for (const char* bad : {"@keel_bot", "bot", "keel-bot"}) {
        core::EnvConfig config([bad](const std::string& name) {
            return name == "TELEGRAM_BOT_USERNAME" ? std::optional<std::string>(bad) : std::nullopt;
        });
        ReadLinkSettings(config);
        EXPECT_THROW(config.Finish(), core::ConfigError) << bad;
    }
}

TEST(LinkTokens, ShapeAndHash) {
    const std::string token(43, 'A');
    EXPECT_TRUE(LooksLikeLinkToken(token));
    EXPECT_FALSE(LooksLikeLinkToken(token + "A"));
    EXPECT_FALSE(LooksLikeLinkToken(std::string(42, 'A') + "="));
    EXPECT_FALSE(LooksLikeLinkToken(""));
    // SHA-256 of "abc" (FIPS 180-2 example): only this is stored.
    EXPECT_EQ(LinkTokenHash("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(ProfilePatchInput, CountsCharactersNotBytes) {
    std::string hundred_cyrillic;
    for (int i = 0; i < 100; ++i) hundred_cyrillic += "ж";  // 2 bytes each
    EXPECT_EQ(Read(R"({"display_name":")" + hundred_cyrillic + "\"}").display_name,
              hundred_cyrillic);
    EXPECT_NE(Problems(R"({"display_name":")" + hundred_cyrillic + "ж\"}"), "");
}

TEST(ProfilePatchInput, RejectsEveryProblemAtOnce) {
    const auto errors = Problems(R"({"display_name":"","email":"x@y.io"})");
    EXPECT_NE(errors.find(R"("field":"display_name")"), std::string::npos) << errors;
    EXPECT_NE(errors.find(R"("field":"email","problem":"is not a known field")"), std::string::npos)
        << errors;
    for (const char* bad :
         {R"({"display_name":"   "})", R"({"display_name":"a\nb"})",
          R"({"display_name":"a\u0085"})", R"({"display_name":12})", R"({"display_name":null})"}) {
        EXPECT_NE(Problems(bad), "") << bad;
    }
    std::string long_name(101, 'a');
    EXPECT_NE(Problems(R"({"display_name":")" + long_name + "\"}"), "");
}

TEST(ProfilePatchInput, NeedsAJsonObjectBody) {
    http::Request request{http::Verb::patch, "/api/account/me", 11};
    request.body() = R"({"display_name":"x"})";
    try {
        ReadProfilePatch(request);
        ADD_FAILURE() << "accepted a body without a JSON content type";
    } catch (const http::HttpError& e) {
        EXPECT_EQ(e.GetStatus(), http::Status::unsupported_media_type);
    }
}

}  // namespace
}  // namespace keel::account
