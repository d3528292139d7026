#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

#include "order.hpp"

namespace keel::orders {

/// Orders in orders' database, and the saga steps that move them.
class OrderStore final {
public:
    OrderStore(std::shared_ptr<pg::Pool> pool, std::shared_ptr<bus::Bus> bus)
        : pool_(std::move(pool)), bus_(std::move(bus)) {}

    struct Placed {
        Order order;
        bool replayed = false;  // an earlier request with this key made it
    };
    /// Looks up an idempotency key: the order it made, or nullopt. Throws HttpError
    /// 409 when the key was used with another body.
    Task<std::optional<Order>> FindByKey(const std::string& user_id, const std::string& key,
                                         const std::string& request_hash);
    /// Writes the PENDING order, its key and orders.order_placed.v1 in one transaction.
    /// `order` has its lines priced; id, status and timestamps are filled in.
    Task<Placed> Place(Order order, const std::string& key, const std::string& request_hash,
                       const bus::Origin& origin);
    Task<std::optional<Order>> Get(const std::string& id);
    Task<std::vector<Order>> ListByUser(const std::string& user_id, int limit);

    // Saga steps, in the consumer's transaction (parameters by value where callers pass
    // temporaries: a coroutine keeps references, not copies). Only a PENDING order moves; a final
    // one stays as it is (the step is then a no-op).
    Task<void> Confirm(pg::Connection& c, const bus::Event& captured);
    Task<void> Cancel(pg::Connection& c, const bus::Event& event, std::string reason);

private:
    std::shared_ptr<pg::Pool> pool_;
    std::shared_ptr<bus::Bus> bus_;
};

}  // namespace keel::orders
