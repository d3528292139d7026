#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <keel/http/message.hpp>
#include <keel/testing/openapi.hpp>

#include "profile.hpp"
#include "routes.hpp"

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

    auto group = Read(R"({"telegram_chat_id":-1001234567890})");
    EXPECT_FALSE(group.display_name);
    EXPECT_TRUE(group.set_telegram_chat);
    EXPECT_EQ(group.telegram_chat_id, -1001234567890);

    auto unlink = Read(R"({"telegram_chat_id":null})");
    EXPECT_TRUE(unlink.set_telegram_chat);
    EXPECT_FALSE(unlink.telegram_chat_id);
    EXPECT_FALSE(unlink.Empty());

    EXPECT_TRUE(Read("{}").Empty());
    const auto limit = Read(R"({"telegram_chat_id":4503599627370495})");
    EXPECT_EQ(limit.telegram_chat_id, kMaxChatIdMagnitude);
}

TEST(ProfilePatchInput, CountsCharactersNotBytes) {
    std::string hundred_cyrillic;
    for (int i = 0; i < 100; ++i) hundred_cyrillic += "ж";  // 2 bytes each
    EXPECT_EQ(Read(R"({"display_name":")" + hundred_cyrillic + "\"}").display_name,
              hundred_cyrillic);
    EXPECT_NE(Problems(R"({"display_name":")" + hundred_cyrillic + "ж\"}"), "");
}

TEST(ProfilePatchInput, RejectsEveryProblemAtOnce) {
    const auto errors =
        Problems(R"({"display_name":"","telegram_chat_id":4503599627370496,"email":"x@y.io"})");
    EXPECT_NE(errors.find(R"("field":"display_name")"), std::string::npos) << errors;
    EXPECT_NE(errors.find(R"("field":"telegram_chat_id")"), std::string::npos) << errors;
    EXPECT_NE(errors.find(R"("field":"email","problem":"is not a known field")"), std::string::npos)
        << errors;
    for (const char* bad :
         {R"({"display_name":"   "})", R"({"display_name":"a\nb"})",
          R"({"display_name":"a\u0085"})", R"({"display_name":12})", R"({"display_name":null})",
          R"({"telegram_chat_id":0})", R"({"telegram_chat_id":1.5})",
          R"({"telegram_chat_id":"42"})", R"({"telegram_chat_id":-4503599627370496})",
          R"({"telegram_chat_id":true})"}) {
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
