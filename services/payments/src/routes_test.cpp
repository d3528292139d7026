#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <keel/testing/openapi.hpp>

#include "capture.hpp"
#include "ledger.hpp"
#include "routes.hpp"

namespace keel::payments {
namespace {

TEST(PaymentsRoutes, MatchOpenApi) {
    const auto router = MakeRouter(std::make_shared<PaymentsContext>());
    EXPECT_EQ(testing::RouterOperations(router),
              testing::OpenApiOperations(KEEL_SOURCE_DIR "/services/payments/openapi.yaml"));
}

http::Request WithKey(std::string_view key) {
    http::Request request{http::Verb::post, "/api/payments/wallet/top-up", 11};
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

TEST(StockReserved, ReadsThePayloadAndRefusesMalformedIds) {
    const auto order = ReadStockReserved(boost::json::parse(
        R"({"order_id":"0190a5a4-0000-7000-8000-000000000001",)"
        R"("user_id":"0190a5a4-0000-7000-8000-000000000002","total":1250,"currency":"USD"})"));
    EXPECT_EQ(order.order_id, "0190a5a4-0000-7000-8000-000000000001");
    EXPECT_EQ(order.user_id, "0190a5a4-0000-7000-8000-000000000002");
    EXPECT_EQ(order.total, 1250);
    EXPECT_EQ(order.currency, "USD");
    EXPECT_THROW(ReadStockReserved(boost::json::parse(
                     R"({"order_id":"42","user_id":"0190a5a4-0000-7000-8000-000000000002",)"
                     R"("total":1,"currency":"USD"})")),
                 std::invalid_argument);
}

TEST(Ledger, AccountNames) {
    EXPECT_EQ(WalletAccount("0190a5a4-0000-7000-8000-000000000002"),
              "wallet:0190a5a4-0000-7000-8000-000000000002");
}

}  // namespace
}  // namespace keel::payments
