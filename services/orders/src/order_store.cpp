#include "order_store.hpp"

#include "order_metrics.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

namespace keel::orders {
namespace json = boost::json;

namespace {

// The columns Read() takes, as a literal so that the statements below are
// compile-time constants.
#define KEEL_ORDER_COLUMNS                                                                      \
    "id::text, user_id::text, status, items::text, total, currency, reason, payment_id::text, " \
    "correlation_id, "                                                                          \
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "             \
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

// After KEEL_ORDER_COLUMNS in the statements that end PENDING: how long the order took.
#define KEEL_TIME_TO_FINAL_MS ", (extract(epoch FROM updated_at - created_at) * 1000)::bigint"
constexpr int kTimeToFinalColumn = 11;

Order Read(const pg::Result& r, int row) {
    Order o;
    o.id = std::string(r.Text(row, 0));
    o.user_id = std::string(r.Text(row, 1));
    o.status = std::string(r.Text(row, 2));
    o.items = LinesFromJson(json::parse(r.Text(row, 3)));
    o.total = r.Int(row, 4);
    o.currency = std::string(r.Text(row, 5));
    o.reason = r.OptionalText(row, 6);
    o.payment_id = r.OptionalText(row, 7);
    o.correlation_id = std::string(r.Text(row, 8));
    o.created_at = std::string(r.Text(row, 9));
    o.updated_at = std::string(r.Text(row, 10));
    return o;
}

// Another request with the same key committed between our lookup and our insert.
struct KeyTaken : std::exception {};

constexpr std::string_view kInsertOrderSql = R"(
INSERT INTO orders (id, user_id, status, items, total, currency, correlation_id)
VALUES ($1, $2, 'PENDING', $3::jsonb, $4, $5, $6)
RETURNING )" KEEL_ORDER_COLUMNS;

constexpr std::string_view kClaimKeySql = R"(
INSERT INTO idempotency_keys (user_id, key, request_hash, order_id) VALUES ($1, $2, $3, $4)
ON CONFLICT DO NOTHING)";

}  // namespace

constexpr std::string_view kFindKeySql =
    "SELECT order_id::text, request_hash FROM idempotency_keys WHERE user_id = $1 AND key = $2";

Task<std::optional<Placement>> OrderStore::FindByKey(std::string user_id, std::string key,
                                                     std::string request_hash) {
    auto r = co_await pool_->Execute(kFindKeySql, user_id, key);
    if (r.Rows() == 0) co_return std::nullopt;
    if (r.Text(0, 1) != request_hash) co_return Placement{PlaceOutcome::kKeyReused, std::nullopt};
    std::string order_id(r.Text(0, 0));
    auto order = co_await Get(std::move(order_id));
    // The key's row references the order, so it is there; kKeyInProgress is a guard.
    const auto outcome = order ? PlaceOutcome::kReplayed : PlaceOutcome::kKeyInProgress;
    co_return Placement{outcome, std::move(order)};
}

Task<Placement> OrderStore::Place(Order order, std::string key, std::string request_hash,
                                  bus::Origin origin) {
    order.id = Uuid::V7().ToString();
    order.correlation_id = origin.correlation_id;
    std::optional<Order> stored;
    auto write = [&](pg::Connection& c) -> Task<void> {
        // BEGIN, the order and the key in one round trip; the outbox row goes with the
        // COMMIT. A key taken by another request rolls the order back with it.
        std::vector<pg::Statement> statements;
        statements.push_back(
            pg::Statement{std::string(kInsertOrderSql),
                          {order.id, order.user_id, json::serialize(LinesToJson(order.items)),
                           pg::P(order.total), order.currency, order.correlation_id}});
        statements.push_back(
            pg::Statement{std::string(kClaimKeySql), {order.user_id, key, request_hash, order.id}});
        auto results = co_await c.ExecuteMany(std::move(statements));
        if (results[1].Affected() != 1) throw KeyTaken{};
        auto inserted = Read(results[0], 0);
        const auto event = PlacedEvent(inserted, bus::NowMicros() / 1000);
        co_await bus_->Emit(c, "orders.order_placed.v1", event, origin);
        stored = std::move(inserted);
    };
    bool key_taken = false;
    try {
        co_await bus_->Transaction(write);
    } catch (const KeyTaken&) {
        key_taken = true;
    }
    if (!key_taken) {
        CountPlaced();
        co_return Placement{PlaceOutcome::kPlaced, std::move(stored)};
    }
    auto earlier = co_await FindByKey(order.user_id, key, request_hash);
    if (earlier) co_return std::move(*earlier);
    co_return Placement{PlaceOutcome::kKeyInProgress, std::nullopt};
}

constexpr std::string_view kGetSql = "SELECT " KEEL_ORDER_COLUMNS " FROM orders WHERE id = $1";

Task<std::optional<Order>> OrderStore::Get(std::string id) {
    auto r = co_await pool_->Execute(kGetSql, id);
    if (r.Rows() == 0) co_return std::nullopt;
    co_return Read(r, 0);
}

constexpr std::string_view kListByUserSql = "SELECT " KEEL_ORDER_COLUMNS R"( FROM orders
WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2)";

Task<std::vector<Order>> OrderStore::ListByUser(std::string user_id, int limit) {
    auto r = co_await pool_->Execute(kListByUserSql, user_id, limit);
    std::vector<Order> out;
    out.reserve(static_cast<std::size_t>(r.Rows()));
    for (int i = 0; i < r.Rows(); ++i) out.push_back(Read(r, i));
    co_return out;
}

Task<StepOutcome> OrderStore::Confirm(pg::Connection& c, std::string order_id,
                                      std::string payment_id, const bus::Origin& origin) {
    return LeavePending(c, std::move(order_id), "CONFIRMED", std::move(payment_id), pg::Null(),
                        origin);
}

Task<StepOutcome> OrderStore::Cancel(pg::Connection& c, std::string order_id, std::string reason,
                                     const bus::Origin& origin) {
    return LeavePending(c, std::move(order_id), "CANCELLED", pg::Null(), std::move(reason), origin);
}

// The only way out of PENDING. A PENDING order has neither payment nor reason, so
// the one of them that does not apply is set to NULL.
constexpr std::string_view kLeavePendingSql = R"(
UPDATE orders SET status = $2, payment_id = $3, reason = $4, updated_at = clock_timestamp()
WHERE id = $1 AND status = 'PENDING'
RETURNING )" KEEL_ORDER_COLUMNS KEEL_TIME_TO_FINAL_MS;

Task<StepOutcome> OrderStore::LeavePending(pg::Connection& c, std::string order_id,
                                           std::string status, pg::Param payment_id,
                                           pg::Param reason, const bus::Origin& origin) {
    auto r = co_await c.Execute(kLeavePendingSql, order_id, status, payment_id, reason);
    if (r.Rows() == 0) {
        log::Warn("saga step for an order that is unknown or no longer pending; left as it is",
                  {{"order_id", order_id}, {"to", status}});
        co_return StepOutcome::kLeftAsItWas;
    }
    auto order = Read(r, 0);
    const auto event = FinalEvent(order);
    co_await bus_->Emit(c, event.topic, event.payload, origin);
    const std::chrono::milliseconds took{r.Int(0, kTimeToFinalColumn)};
    c.OnCommit([order = std::move(order), took] { CountFinished(order, took); });
    co_return StepOutcome::kMoved;
}

// The deadline is checked against the database's clock, the one created_at was set by.
// SKIP LOCKED: another sweeper's rows (or one a saga step is moving) are left to it;
// the outer status check is for clarity, the locked rows are still PENDING.
constexpr std::string_view kCancelExpiredSql = R"(
UPDATE orders SET status = 'CANCELLED', reason = $2, updated_at = clock_timestamp()
WHERE id IN (SELECT id FROM orders
             WHERE status = 'PENDING' AND created_at < clock_timestamp() - make_interval(secs => $1)
             ORDER BY created_at LIMIT $3
             FOR UPDATE SKIP LOCKED)
  AND status = 'PENDING'
RETURNING )" KEEL_ORDER_COLUMNS KEEL_TIME_TO_FINAL_MS;

Task<std::vector<Order>> OrderStore::CancelExpired(std::chrono::seconds deadline, int limit) {
    const std::string reason =
        "timeout: not paid within " + std::to_string(deadline.count()) + " s";
    const std::int64_t seconds = deadline.count();
    std::vector<Order> cancelled;
    std::vector<std::chrono::milliseconds> took;
    auto body = [&](pg::Connection& c) -> Task<void> {
        cancelled.clear();  // a retried body starts again
        took.clear();
        auto r = co_await c.Execute(kCancelExpiredSql, seconds, reason, limit);
        for (int i = 0; i < r.Rows(); ++i) {
            Order order = Read(r, i);
            took.emplace_back(r.Int(i, kTimeToFinalColumn));
            const auto event = FinalEvent(order);
            // The order's own correlation id, so that the timeout joins its trail.
            const auto origin = bus_->FromRequest(order.correlation_id, "", "pending timeout");
            co_await bus_->Emit(c, event.topic, event.payload, origin);
            cancelled.push_back(std::move(order));
        }
    };
    co_await bus_->Transaction(body);
    for (std::size_t i = 0; i < cancelled.size(); ++i) {
        CountFinished(cancelled[i], took[i]);
        log::Info("pending order cancelled after its deadline", {{"order_id", cancelled[i].id}});
    }
    co_return cancelled;
}

#undef KEEL_TIME_TO_FINAL_MS
#undef KEEL_ORDER_COLUMNS

}  // namespace keel::orders
