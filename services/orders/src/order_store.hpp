#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

#include "order.hpp"

namespace keel::orders {

/// What became of a placement, or of looking up its Idempotency-Key.
enum class PlaceOutcome {
    kPlaced,         // this request wrote the order
    kReplayed,       // an earlier request with this key and body made it
    kKeyReused,      // the key was used with another body: nothing written
    kKeyInProgress,  // the key is taken but its order cannot be read yet: nothing written
};

struct Placement {
    PlaceOutcome outcome = PlaceOutcome::kPlaced;
    std::optional<Order> order;  // for kPlaced and kReplayed
};

/// What a saga step did to an order.
enum class StepOutcome {
    kMoved,        // PENDING -> final, event emitted
    kLeftAsItWas,  // unknown or already final: nothing changed, nothing emitted
};

/// Orders in orders' database, and the saga steps that move them. Thread-safe.
/// Failures of the database or the bus throw; expected outcomes are return values.
class OrderStore final {
public:
    OrderStore(std::shared_ptr<pg::Pool> pool, std::shared_ptr<bus::Bus> bus)
        : pool_(std::move(pool)), bus_(std::move(bus)) {}

    /// Looks up an idempotency key of `user_id`: nullopt when unused, else kReplayed
    /// with the order it made (`request_hash` matches) or kKeyReused.
    Task<std::optional<Placement>> FindByKey(std::string user_id, std::string key,
                                             std::string request_hash);
    /// Writes the PENDING order, its key and orders.order_placed.v1 in one transaction.
    /// `order` has its lines priced; id, status and timestamps are filled in. When
    /// another request holds the key, nothing is written and the outcome is that of
    /// FindByKey (kReplayed, kKeyReused, or kKeyInProgress).
    Task<Placement> Place(Order order, std::string key, std::string request_hash,
                          bus::Origin origin);
    Task<std::optional<Order>> Get(std::string id);
    /// The user's orders, newest first.
    Task<std::vector<Order>> ListByUser(std::string user_id, int limit);

    /// Saga steps, in the consumer's transaction on `c`: only a PENDING order moves,
    /// emitting orders.order_confirmed.v1 / orders.order_cancelled.v1 under `origin`
    /// (which must outlive the call). An order id that is not a UUID throws.
    Task<StepOutcome> Confirm(pg::Connection& c, std::string order_id, std::string payment_id,
                              const bus::Origin& origin);
    Task<StepOutcome> Cancel(pg::Connection& c, std::string order_id, std::string reason,
                             const bus::Origin& origin);

    /// Cancels up to `limit` orders PENDING for longer than `deadline` (reason
    /// "timeout: ..."), each with its orders.order_cancelled.v1 (catalog releases the
    /// stock, payments refunds or refuses a capture), in one transaction. Safe with
    /// several instances sweeping at once: rows another sweeper holds are skipped, and
    /// an order that a saga step moved meanwhile is left as it is. Returns the orders
    /// cancelled.
    Task<std::vector<Order>> CancelExpired(std::chrono::seconds deadline, int limit);

private:
    Task<StepOutcome> LeavePending(pg::Connection& c, std::string order_id, std::string status,
                                   pg::Param payment_id, pg::Param reason,
                                   const bus::Origin& origin);

    std::shared_ptr<pg::Pool> pool_;
    std::shared_ptr<bus::Bus> bus_;
};

}  // namespace keel::orders
