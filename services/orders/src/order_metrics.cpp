#include "order_metrics.hpp"

#include <array>

#include <keel/telemetry/metrics.hpp>

namespace keel::orders {
namespace {

// From a fast checkout (tens of ms) to the pending sweeper's deadline (minutes).
std::vector<double> TimeToFinalBuckets() {
    return {0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}

constexpr std::array<std::string_view, 3> kKnownReasons{"stock", "payment", "timeout"};

telemetry::Counter& Placed() {
    return telemetry::DefaultRegistry().GetCounter("keel_orders_placed_total",
                                                   "Orders placed (committed as PENDING).");
}

telemetry::Counter& Finished(const std::string& status, std::string_view reason) {
    telemetry::Labels labels{{"status", status}};
    if (status == "cancelled") labels.push_back({"reason", std::string(reason)});
    return telemetry::DefaultRegistry().GetCounter(
        "keel_orders_finished_total",
        "Orders that reached a final state, by status and (cancelled) who refused.", labels);
}

telemetry::Histogram& TimeToFinal(const std::string& status) {
    return telemetry::DefaultRegistry().GetHistogram(
        "keel_order_time_to_final_seconds", "Time from placing an order to its final state.",
        {{"status", status}}, TimeToFinalBuckets());
}

}  // namespace

std::string_view ReasonLabel(std::string_view reason) {
    const auto who = reason.substr(0, reason.find(':'));
    for (auto known : kKnownReasons)
        if (who == known) return known;
    return "other";
}

void RegisterOrderMetrics() {
    Placed();
    Finished("confirmed", "");
    for (auto reason : kKnownReasons) Finished("cancelled", reason);
    Finished("cancelled", "other");
    TimeToFinal("confirmed");
    TimeToFinal("cancelled");
}

void CountPlaced() { Placed().Inc(); }

void CountFinished(const Order& order, std::chrono::milliseconds time_to_final) {
    const bool confirmed = order.status == "CONFIRMED";
    const std::string status = confirmed ? "confirmed" : "cancelled";
    Finished(status, confirmed ? "" : ReasonLabel(order.reason.value_or(""))).Inc();
    TimeToFinal(status).Observe(std::chrono::duration<double>(time_to_final).count());
}

}  // namespace keel::orders
