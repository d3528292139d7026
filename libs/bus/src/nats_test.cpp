// The pure parts of the NATS wrapper: URL lists and stream/consumer names.
#include <gtest/gtest.h>

#include <keel/bus/nats.hpp>

namespace keel::bus {
namespace {

TEST(SplitUrlList, TrimsAndDropsEmptyEntries) {
    using V = std::vector<std::string>;
    EXPECT_EQ(SplitUrlList("nats://a:1"), V{"nats://a:1"});
    EXPECT_EQ(SplitUrlList(" nats://a:1 ,, nats://b:2,"), (V{"nats://a:1", "nats://b:2"}));
    EXPECT_TRUE(SplitUrlList("").empty());
    EXPECT_TRUE(SplitUrlList(" , ").empty());
}

TEST(Names, StreamAndDurableOfATopic) {
    EXPECT_EQ(StreamOf("orders.order_placed.v1"), "ORDERS");
    EXPECT_EQ(StreamOf("alert-relay.fired.v1"), "ALERT_RELAY");
    EXPECT_EQ(DurableOf("fiscal", "payments.payment_captured.v1"),
              "fiscal-payments_payment_captured_v1");
}

}  // namespace
}  // namespace keel::bus
