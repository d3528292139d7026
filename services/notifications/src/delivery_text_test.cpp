#include <gtest/gtest.h>

#include <cstdint>

#include "delivery_text.hpp"

namespace keel::notifications {
namespace {

TEST(Amount, FormatsMinorUnitsByCurrency) {
    EXPECT_EQ(FormatAmount(1200, "USD"), "12.00 USD");
    EXPECT_EQ(FormatAmount(5, "EUR"), "0.05 EUR");
    EXPECT_EQ(FormatAmount(0, "EUR"), "0.00 EUR");
    EXPECT_EQ(FormatAmount(-1999, "EUR"), "-19.99 EUR");
    EXPECT_EQ(FormatAmount(500, "JPY"), "500 JPY");
    EXPECT_EQ(FormatAmount(1234, "KWD"), "1.234 KWD");
    EXPECT_EQ(FormatAmount(INT64_MAX, "USD"), "92233720368547758.07 USD");
    EXPECT_EQ(FormatAmount(INT64_MIN, "USD"), "-92233720368547758.08 USD");
}

TEST(Texts, NameTheOrderTheAmountAndTheReceipt) {
    const std::string order = "0190a5a4-0000-7000-8000-000000000001";
    EXPECT_EQ(OrderConfirmedText(order, 1200, "USD"),
              "Order " + order + " is confirmed. Total: 12.00 USD.");
    EXPECT_EQ(OrderCancelledText(order, 1200, "USD", "payment declined"),
              "Order " + order + " (12.00 USD) was cancelled: payment declined.");
    EXPECT_EQ(ReceiptIssuedText(42, order, 1200, "USD"),
              "Receipt No. 42 for order " + order + ": 12.00 USD.");
    std::string long_reason;
    for (int i = 0; i < 300; ++i) long_reason += "ж";
    const auto cancelled = OrderCancelledText(order, 1, "USD", long_reason);
    EXPECT_LT(cancelled.size(), 100 + 200 * 2u);
    EXPECT_EQ(cancelled.back(), '.');
}

}  // namespace
}  // namespace keel::notifications
