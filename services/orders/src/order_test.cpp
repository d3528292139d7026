#include <gtest/gtest.h>

#include <stdexcept>

#include <boost/json/parse.hpp>

#include "order.hpp"

namespace keel::orders {
namespace {

const std::string kMug = "00000000-0000-4000-8000-000000000001";
const std::string kTee = "00000000-0000-4000-8000-000000000002";
const std::string kCap = "00000000-0000-4000-8000-000000000003";

TEST(OrderRequest, SameLinesInAnyOrderAreTheSameRequest) {
    const auto a = MakeOrderRequest({OrderLine{kMug, 2}, OrderLine{kTee, 1}});
    const auto b = MakeOrderRequest({OrderLine{kTee, 1}, OrderLine{kMug, 2}});
    const auto c = MakeOrderRequest({OrderLine{kTee, 2}, OrderLine{kMug, 2}});
    EXPECT_EQ(a.hash, b.hash);
    EXPECT_NE(a.hash, c.hash);
    EXPECT_EQ(a.hash.size(), 64u);
    EXPECT_EQ(a.items.front().product_id, kMug);
}

TEST(OrderRequest, ProductIdsAreLowerCased) {
    const auto upper = MakeOrderRequest({OrderLine{"00000000-0000-4000-8000-00000000000A", 1}});
    const auto lower = MakeOrderRequest({OrderLine{"00000000-0000-4000-8000-00000000000a", 1}});
    EXPECT_EQ(upper.items.front().product_id, "00000000-0000-4000-8000-00000000000a");
    EXPECT_EQ(upper.hash, lower.hash);
}

TEST(OrderRequest, RepeatedProductsAreNamedOnce) {
    EXPECT_TRUE(
        RepeatedProducts(MakeOrderRequest({OrderLine{kMug, 1}, OrderLine{kTee, 1}})).empty());
    const auto repeated = RepeatedProducts(MakeOrderRequest(
        {OrderLine{kTee, 1}, OrderLine{kMug, 1}, OrderLine{kTee, 2}, OrderLine{kTee, 3}}));
    EXPECT_EQ(repeated, std::vector<std::string>{kTee});
}

TEST(Pricing, PricesEveryLineInOneCurrency) {
    const CatalogPrices prices = {{kMug, {1200, "USD"}}, {kTee, {500, "USD"}}};
    const auto pricing = PriceLines({OrderLine{kMug, 2}, OrderLine{kTee, 3}}, prices);
    EXPECT_TRUE(pricing.priced.has_value());
    if (!pricing.priced) return;
    EXPECT_EQ(pricing.priced->total, 2 * 1200 + 3 * 500);
    EXPECT_EQ(pricing.priced->currency, "USD");
    EXPECT_EQ(pricing.priced->lines.at(0).unit_price, 1200);
    EXPECT_EQ(pricing.priced->lines.at(1).unit_price, 500);
}

TEST(Pricing, NamesUnknownProductsAndMixedCurrencies) {
    const CatalogPrices prices = {{kMug, {1200, "USD"}}, {kTee, {500, "EUR"}}};
    const auto unknown = PriceLines({OrderLine{kMug, 1}, OrderLine{kCap, 1}}, prices);
    EXPECT_FALSE(unknown.priced.has_value());
    EXPECT_EQ(unknown.problem, "no such product: " + kCap);
    const auto mixed = PriceLines({OrderLine{kMug, 1}, OrderLine{kTee, 1}}, prices);
    EXPECT_FALSE(mixed.priced.has_value());
    EXPECT_EQ(mixed.problem, "an order cannot mix currencies (USD and EUR)");
}

Order Pending() {
    Order o;
    o.id = "0190a5a4-0000-7000-8000-000000000001";
    o.user_id = "0190a5a4-0000-7000-8000-0000000000aa";
    o.status = "PENDING";
    o.items = {OrderLine{kMug, 2, 1200}};
    o.total = 2400;
    o.currency = "USD";
    o.correlation_id = "req-1";
    return o;
}

TEST(OrderJson, LinesRoundTripAndMalformedLinesThrow) {
    const auto lines = Pending().items;
    const auto back = LinesFromJson(LinesToJson(lines));
    EXPECT_EQ(back.size(), 1u);
    EXPECT_EQ(back.at(0).product_id, kMug);
    EXPECT_EQ(back.at(0).quantity, 2);
    EXPECT_EQ(back.at(0).unit_price, 1200);
    EXPECT_THROW(LinesFromJson(boost::json::parse(R"([{"product_id":1}])")), std::invalid_argument);
    EXPECT_THROW(LinesFromJson(boost::json::parse("{}")), std::invalid_argument);
}

TEST(OrderJson, ShowsReasonAndPaymentAsNullUntilSet) {
    auto order = Pending();
    auto json = ToJson(order);
    EXPECT_TRUE(json.at("reason").is_null());
    EXPECT_TRUE(json.at("payment_id").is_null());
    EXPECT_EQ(json.at("status").as_string(), "PENDING");
    EXPECT_EQ(json.at("total").to_number<std::int64_t>(), 2400);
    order.reason = "stock: gone";
    EXPECT_EQ(ToJson(order).at("reason").as_string(), "stock: gone");
}

TEST(OrderEvents, PlacedAndFinalEventsCarryTheOrder) {
    auto order = Pending();
    const auto placed = PlacedEvent(order, 1'700'000'000'000).as_object();
    EXPECT_EQ(placed.at("order_id").as_string(), order.id);
    EXPECT_EQ(placed.at("placed_at").to_number<std::int64_t>(), 1'700'000'000'000);
    EXPECT_EQ(placed.at("items").as_array().size(), 1u);
    EXPECT_THROW(FinalEvent(order), std::logic_error);

    order.status = "CONFIRMED";
    order.payment_id = "0190a5a4-0000-7000-8000-0000000000bb";
    const auto confirmed = FinalEvent(order);
    EXPECT_EQ(confirmed.topic, "orders.order_confirmed.v1");
    EXPECT_EQ(confirmed.payload.at("payment_id").as_string(), *order.payment_id);
    EXPECT_EQ(confirmed.payload.at("total").to_number<std::int64_t>(), 2400);
    EXPECT_FALSE(confirmed.payload.as_object().contains("reason"));

    order.status = "CANCELLED";
    order.payment_id.reset();
    order.reason = "payment: insufficient funds";
    const auto cancelled = FinalEvent(order);
    EXPECT_EQ(cancelled.topic, "orders.order_cancelled.v1");
    EXPECT_EQ(cancelled.payload.at("reason").as_string(), "payment: insufficient funds");
    EXPECT_EQ(cancelled.payload.at("user_id").as_string(), order.user_id);
    EXPECT_FALSE(cancelled.payload.as_object().contains("payment_id"));
}

}  // namespace
}  // namespace keel::orders
