#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

namespace keel::notifications {

inline constexpr const char* kProfileUpdated = "account.profile_updated.v1";
inline constexpr const char* kOrderConfirmed = "orders.order_confirmed.v1";
inline constexpr const char* kOrderCancelled = "orders.order_cancelled.v1";
inline constexpr const char* kReceiptIssued = "fiscal.receipt_issued.v1";
inline constexpr const char* kNoLinkedChat = "no linked Telegram chat";

/// Event handlers (they run in the consumer's transaction, see bus::EventHandler).
/// account.profile_updated.v1: keeps the user's linked chat; an event with an older
/// updated_at than the stored one changes nothing.
Task<void> OnProfileUpdated(pg::Connection& connection, const bus::Event& event);
/// orders.order_confirmed.v1, orders.order_cancelled.v1, fiscal.receipt_issued.v1: one
/// delivery per event id, pending when the user has a linked chat, else skipped.
Task<void> OnOrderConfirmed(pg::Connection& connection, const bus::Event& event);
Task<void> OnOrderCancelled(pg::Connection& connection, const bus::Event& event);
Task<void> OnReceiptIssued(pg::Connection& connection, const bus::Event& event);

/// Subscribes the handlers above to their topics.
void SubscribeConsumers(bus::Bus& bus);

struct DeliveryView {
    std::int64_t id = 0;
    std::string kind;
    std::string order_id;
    std::string status;
    std::string text;
    std::string created_at;              // RFC 3339, UTC, milliseconds
    std::optional<std::string> sent_at;  // the same, when sent
};

struct DeliveryStats {
    std::int64_t sent = 0;
    std::int64_t pending = 0;
    std::int64_t failed = 0;
    std::int64_t skipped = 0;
    /// Deliveries beyond the first for the same (order, kind): the same outcome told twice.
    std::int64_t duplicate_events = 0;
};

/// Reads of the delivery log. Thread-safe.
class DeliveryLog final {
public:
    explicit DeliveryLog(std::shared_ptr<pg::Pool> pool) : pool_(std::move(pool)) {}

    /// The user's newest deliveries first, at most `limit`.
    Task<std::vector<DeliveryView>> ForUser(const std::string& user_id, int limit);
    Task<DeliveryStats> Stats();

private:
    std::shared_ptr<pg::Pool> pool_;
};

}  // namespace keel::notifications
