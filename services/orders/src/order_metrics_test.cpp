#include "order_metrics.hpp"

#include <gtest/gtest.h>

#include <keel/telemetry/metrics.hpp>

namespace keel::orders {
namespace {

TEST(OrderMetrics, ReasonLabelIsWhoRefusedFromAFixedSet) {
    EXPECT_EQ(ReasonLabel("stock: insufficient stock"), "stock");
    EXPECT_EQ(ReasonLabel("payment: insufficient funds"), "payment");
    EXPECT_EQ(ReasonLabel("timeout: not paid within 30 s"), "timeout");
    // Free text must not become a label value.
    EXPECT_EQ(ReasonLabel("a user typed this"), "other");
    EXPECT_EQ(ReasonLabel(""), "other");
}

TEST(OrderMetrics, FinishedOrdersAreCountedByStatusAndReasonWithTheirDuration) {
    Order confirmed;
    confirmed.status = "CONFIRMED";
    Order cancelled;
    cancelled.status = "CANCELLED";
    cancelled.reason = "payment: insufficient funds";
    RegisterOrderMetrics();
    EXPECT_NE(telemetry::DefaultRegistry().Render().find(
                  "keel_orders_finished_total{status=\"cancelled\",reason=\"timeout\"} 0"),
              std::string::npos);
    CountPlaced();
    CountFinished(confirmed, std::chrono::milliseconds(40));
    CountFinished(cancelled, std::chrono::milliseconds(3000));

    const auto text = telemetry::DefaultRegistry().Render();
    EXPECT_NE(text.find("keel_orders_placed_total 1"), std::string::npos) << text;
    EXPECT_NE(text.find("keel_orders_finished_total{status=\"confirmed\"} 1"), std::string::npos);
    EXPECT_NE(text.find("keel_orders_finished_total{status=\"cancelled\",reason=\"payment\"} 1"),
              std::string::npos);
    // 40 ms falls in the 0.05 s bucket, 3 s only from the 5 s bucket up.
    EXPECT_NE(
        text.find("keel_order_time_to_final_seconds_bucket{status=\"confirmed\",le=\"0.05\"} 1"),
        std::string::npos);
    EXPECT_NE(
        text.find("keel_order_time_to_final_seconds_bucket{status=\"cancelled\",le=\"2.5\"} 0"),
        std::string::npos);
    EXPECT_NE(text.find("keel_order_time_to_final_seconds_bucket{status=\"cancelled\",le=\"5\"} 1"),
              std::string::npos);
}

}  // namespace
}  // namespace keel::orders
