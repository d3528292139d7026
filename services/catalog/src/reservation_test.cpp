#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "reservation.hpp"

namespace keel::catalog {
namespace {

const std::string kA = "00000000-0000-4000-8000-00000000000a";
const std::string kB = "00000000-0000-4000-8000-00000000000b";
const std::string kOrder = "0190a5a4-0000-7000-8000-000000000001";
const std::string kUser = "0190a5a4-0000-7000-8000-000000000002";

boost::json::value Placed(const std::string& items) {
    return boost::json::parse(R"({"order_id":")" + kOrder + R"(","user_id":")" + kUser +
                              R"(","total":4900,"currency":"USD","placed_at":1,"items":)" + items +
                              "}");
}

TEST(ReadPlacedOrder, MergesLinesOfOneProductInIdOrder) {
    const auto order = ReadPlacedOrder(Placed(R"([
        {"product_id":"00000000-0000-4000-8000-00000000000B","quantity":2,"unit_price":1},
        {"product_id":")" + kA + R"(","quantity":1,"unit_price":1},
        {"product_id":")" + kB + R"(","quantity":3,"unit_price":1}])"));
    EXPECT_EQ(order.order_id, kOrder);
    EXPECT_EQ(order.user_id, kUser);
    EXPECT_EQ(order.total, 4900);
    EXPECT_EQ(order.currency, "USD");
    ASSERT_EQ(order.lines.size(), 2u);
    EXPECT_EQ(order.lines[0].product_id, kA);
    EXPECT_EQ(order.lines[0].quantity, 1);
    EXPECT_EQ(order.lines[1].product_id, kB);
    EXPECT_EQ(order.lines[1].quantity, 5);
}

TEST(ReadPlacedOrder, ALineWithoutAPositiveQuantityKeepsItsProductInvalid) {
    const auto order = ReadPlacedOrder(Placed(R"([
        {"product_id":")" + kA + R"(","quantity":5,"unit_price":1},
        {"product_id":")" + kA + R"(","quantity":-3,"unit_price":1}])"));
    ASSERT_EQ(order.lines.size(), 1u);
    EXPECT_LT(order.lines[0].quantity, 1);
    const std::map<std::string, std::int64_t> stock = {{kA, 10}};
    EXPECT_EQ(RejectionReason(order.lines, stock), "invalid quantity for " + kA);
}

TEST(ReadPlacedOrder, RefusesAnOrderIdThatIsNotAUuid) {
    auto payload = Placed("[]");
    payload.as_object()["order_id"] = "42";
    EXPECT_THROW(ReadPlacedOrder(payload), std::invalid_argument);
    payload = Placed("[]");
    payload.as_object()["user_id"] = "";
    EXPECT_THROW(ReadPlacedOrder(payload), std::invalid_argument);
}

TEST(RejectionReason, NamesEveryProductAtFault) {
    const std::map<std::string, std::int64_t> stock = {{kA, 1}, {kB, 0}};
    const std::vector<OrderLine> fits = {{kA, 1}};
    EXPECT_EQ(RejectionReason(fits, stock), "");
    const std::vector<OrderLine> short_of_a = {{kA, 2}};
    EXPECT_EQ(RejectionReason(short_of_a, stock), "insufficient stock for " + kA);
    const std::vector<OrderLine> several = {{"nope", 1}, {kA, 1}, {kB, 1}};
    EXPECT_EQ(RejectionReason(several, stock),
              "unknown product nope; insufficient stock for " + kB);
    const std::vector<OrderLine> zero = {{kA, 0}};
    EXPECT_EQ(RejectionReason(zero, stock), "invalid quantity for " + kA);
    EXPECT_EQ(RejectionReason({}, stock), "order has no items");
}

TEST(ReservationItems, RoundTrip) {
    const std::vector<OrderLine> lines = {{kA, 2}, {kB, 7}};
    const auto back = LinesFromJson(LinesToJson(lines));
    ASSERT_EQ(back.size(), 2u);
    EXPECT_EQ(back[1].product_id, kB);
    EXPECT_EQ(back[1].quantity, 7);
    EXPECT_THROW(LinesFromJson("{}"), std::invalid_argument);
}

}  // namespace
}  // namespace keel::catalog
