#pragma once
#include <memory>

#include <keel/bus/bus.hpp>
#include <keel/http/message.hpp>
#include <keel/http/router.hpp>

#include "catalog_client.hpp"
#include "order.hpp"
#include "order_store.hpp"

namespace keel::orders {

struct OrdersContext {
    std::shared_ptr<OrderStore> store;
    std::shared_ptr<CatalogClient> catalog;
    std::shared_ptr<bus::Bus> bus;
};

/// place (with Idempotency-Key), get, list mine.
http::Router MakeRouter(const std::shared_ptr<OrdersContext>& ctx);

/// Reads the body of POST /api/orders, `{items:[{product_id, quantity}]}`. Throws
/// HttpError 415 or 400 for a body that is not a JSON object, 422 with every
/// problem otherwise.
OrderRequest ReadOrderRequest(const http::Request& request);

/// The answer to POST /api/orders for `placement`: 201 with the new order, 200 with
/// `Idempotent-Replayed: true` and the earlier one, or HttpError 409 when the key
/// was used with another body or its request is still in progress.
http::Response PlacementResponse(const Placement& placement);

}  // namespace keel::orders
