#include <gtest/gtest.h>

#include <stdexcept>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "receipt.hpp"

namespace keel::fiscal {
namespace {

TEST(PaymentCaptured, ReadsThePayloadAndRefusesMalformedIds) {
    const auto payment = ReadPaymentCaptured(
        boost::json::parse(R"({"payment_id":"0190a5a4-0000-7000-8000-000000000001",)"
                           R"("order_id":"0190a5a4-0000-7000-8000-000000000002",)"
                           R"("user_id":"0190a5a4-0000-7000-8000-000000000003",)"
                           R"("amount":1250,"currency":"USD","captured_at":1714564800000})"));
    EXPECT_EQ(payment.payment_id, "0190a5a4-0000-7000-8000-000000000001");
    EXPECT_EQ(payment.order_id, "0190a5a4-0000-7000-8000-000000000002");
    EXPECT_EQ(payment.user_id, "0190a5a4-0000-7000-8000-000000000003");
    EXPECT_EQ(payment.amount, 1250);
    EXPECT_EQ(payment.currency, "USD");
    EXPECT_THROW(ReadPaymentCaptured(boost::json::parse(
                     R"({"payment_id":"p-1","order_id":"0190a5a4-0000-7000-8000-000000000002",)"
                     R"("user_id":"0190a5a4-0000-7000-8000-000000000003",)"
                     R"("amount":1,"currency":"USD","captured_at":0})")),
                 std::invalid_argument);
}

TEST(Receipt, JsonHasEveryFieldOfTheApi) {
    const Receipt r{"id-1",       7,    "order-1", "payment-1",
                    "user-1",     1250, "USD",     "2024-05-01T12:00:00.000Z",
                    1714564800000};
    EXPECT_EQ(boost::json::serialize(ToJsonObject(r)),
              R"({"id":"id-1","number":7,"order_id":"order-1","payment_id":"payment-1",)"
              R"("user_id":"user-1","amount":1250,"currency":"USD",)"
              R"("issued_at":"2024-05-01T12:00:00.000Z"})");
}

}  // namespace
}  // namespace keel::fiscal
