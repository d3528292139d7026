#include <gtest/gtest.h>

#include <stdexcept>

#include <boost/json/parse.hpp>

#include "capture.hpp"

namespace keel::payments {
namespace {

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

}  // namespace
}  // namespace keel::payments
