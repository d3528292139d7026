#include <gtest/gtest.h>

#include <keel/testing/openapi.hpp>

#include "routes.hpp"

namespace keel::payments {
namespace {

TEST(PaymentsRoutes, MatchOpenApi) {
    EXPECT_TRUE(testing::MatchesOpenApi(MakeRouter(std::make_shared<PaymentsContext>()),
                                        "services/payments/openapi.yaml"));
}

http::Request WithKey(std::string_view key) {
    http::Request request{http::Verb::post, "/internal/wallets/x/top-up", 11};
    request.set("Idempotency-Key", key);
    return request;
}

TEST(IdempotencyKey, AcceptsVisibleAsciiAndRefusesTheRest) {
    EXPECT_EQ(ReadIdempotencyKey(http::Request{}), std::nullopt);
    EXPECT_EQ(ReadIdempotencyKey(WithKey("top-up-7f3a")), "top-up-7f3a");
    EXPECT_EQ(ReadIdempotencyKey(WithKey(std::string(255, 'k'))), std::string(255, 'k'));
    for (const std::string& bad : {std::string(), std::string(256, 'k'), std::string("a b"),
                                   std::string("caf\xc3\xa9"), std::string("tab\there")}) {
        try {
            ReadIdempotencyKey(WithKey(bad));
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const http::HttpError& e) {
            EXPECT_EQ(e.GetStatus(), http::Status::bad_request);
        }
    }
}

}  // namespace
}  // namespace keel::payments
