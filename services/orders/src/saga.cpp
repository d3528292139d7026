#include "saga.hpp"

#include <string>

namespace keel::orders {
namespace {

std::string Field(const bus::Event& event, const char* name) {
    return std::string(event.payload.at(name).as_string());
}

Task<void> ConfirmOnCapture(std::shared_ptr<OrderStore> store, pg::Connection& c,
                            const bus::Event& captured) {
    std::string order_id = Field(captured, "order_id");
    std::string payment_id = Field(captured, "payment_id");
    co_await store->Confirm(c, std::move(order_id), std::move(payment_id), captured.next);
}

// Cancels the order with the event's reason after `prefix` (who refused it).
Task<void> CancelOnRefusal(std::shared_ptr<OrderStore> store, pg::Connection& c,
                           const bus::Event& refusal, std::string prefix) {
    std::string order_id = Field(refusal, "order_id");
    std::string reason = prefix + Field(refusal, "reason");
    co_await store->Cancel(c, std::move(order_id), std::move(reason), refusal.next);
}

bus::EventHandler Cancelling(std::shared_ptr<OrderStore> store, std::string prefix) {
    return [store, prefix](pg::Connection& c, const bus::Event& e) {
        return CancelOnRefusal(store, c, e, prefix);
    };
}

}  // namespace

void SubscribeSaga(bus::Bus& bus, std::shared_ptr<OrderStore> store) {
    bus.Publishes("orders.order_placed.v1");
    bus.Publishes("orders.order_confirmed.v1");
    bus.Publishes("orders.order_cancelled.v1");
    bus.Subscribe("payments.payment_captured.v1",
                  bus::EventHandler([store](pg::Connection& c, const bus::Event& e) {
                      return ConfirmOnCapture(store, c, e);
                  }));
    bus.Subscribe("catalog.stock_rejected.v1", Cancelling(store, "stock: "));
    bus.Subscribe("payments.payment_declined.v1", Cancelling(store, "payment: "));
}

}  // namespace keel::orders
