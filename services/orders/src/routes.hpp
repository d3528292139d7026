#pragma once
#include <memory>

#include <keel/bus/bus.hpp>
#include <keel/http/router.hpp>

#include "catalog_client.hpp"
#include "order_store.hpp"

namespace keel::orders {

struct OrdersContext {
    std::shared_ptr<OrderStore> store;
    std::shared_ptr<CatalogClient> catalog;
    std::shared_ptr<bus::Bus> bus;
};

/// place (with Idempotency-Key), get, list mine.
http::Router MakeRouter(std::shared_ptr<OrdersContext> ctx);

/// The saga steps orders takes part in: confirm on capture, cancel on a rejection
/// or a decline.
void SubscribeSaga(bus::Bus& bus, std::shared_ptr<OrderStore> store);

}  // namespace keel::orders
