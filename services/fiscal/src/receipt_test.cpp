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
              R"({"id":"id-1","number":7,"kind":"sale","order_id":"order-1",)"
              R"("payment_id":"payment-1","user_id":"user-1","amount":1250,"currency":"USD",)"
              R"("issued_at":"2024-05-01T12:00:00.000Z"})");
    Receipt refund = r;
    refund.kind = "refund";
    refund.refund_id = "refund-1";
    EXPECT_EQ(ToJsonObject(refund).at("sale_receipt_id"), nullptr);  // sale not issued yet
    refund.sale_receipt_id = "id-0";
    const auto o = ToJsonObject(refund);
    EXPECT_EQ(o.at("kind").as_string(), "refund");
    EXPECT_EQ(o.at("refund_id").as_string(), "refund-1");
    EXPECT_EQ(o.at("sale_receipt_id").as_string(), "id-0");
}

TEST(PaymentRefunded, ReadsThePayloadAndRefusesMalformedIds) {
    const std::string ids = R"("payment_id":"0190a5a4-0000-7000-8000-000000000001",)"
                            R"("order_id":"0190a5a4-0000-7000-8000-000000000002",)"
                            R"("user_id":"0190a5a4-0000-7000-8000-000000000003",)"
                            R"("amount":1250,"currency":"USD","reason":"timeout","refunded_at":1})";
    const auto refund = ReadPaymentRefunded(
        boost::json::parse(R"({"refund_id":"0190a5a4-0000-7000-8000-000000000004",)" + ids));
    EXPECT_EQ(refund.refund_id, "0190a5a4-0000-7000-8000-000000000004");
    EXPECT_EQ(refund.payment_id, "0190a5a4-0000-7000-8000-000000000001");
    EXPECT_EQ(refund.order_id, "0190a5a4-0000-7000-8000-000000000002");
    EXPECT_EQ(refund.amount, 1250);
    EXPECT_EQ(refund.currency, "USD");
    EXPECT_THROW(ReadPaymentRefunded(boost::json::parse(R"({"refund_id":"r-1",)" + ids)),
                 std::invalid_argument);
}

}  // namespace
}  // namespace keel::fiscal
