#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <keel/bus/consumer_position.hpp>

namespace keel::bus {
namespace {

TEST(ConsumerPosition, ReadsJetStreamConsumerInfo) {
    const auto info = boost::json::parse(R"({"name":"fiscal-x","num_pending":7,
        "num_ack_pending":3,"num_redelivered":2,"delivered":{"consumer_seq":9,"stream_seq":41}})");
    const auto p = PositionFromInfo(info.as_object());
    EXPECT_EQ(p.pending, 7);
    EXPECT_EQ(p.ack_pending, 3);
    EXPECT_EQ(p.redelivered, 2);
    EXPECT_EQ(p.last_delivered_seq, 41);
    EXPECT_EQ(p.Lag(), 10);
}

TEST(ConsumerPosition, AbsentOrMistypedFieldsReadAsZero) {
    const auto info = boost::json::parse(R"({"num_pending":"many","delivered":5})");
    const auto p = PositionFromInfo(info.as_object());
    EXPECT_EQ(p.pending, 0);
    EXPECT_EQ(p.last_delivered_seq, 0);
    EXPECT_EQ(p.Lag(), 0);
}

}  // namespace
}  // namespace keel::bus
