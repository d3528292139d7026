#include "reservation_store.hpp"

#include <cctype>
#include <map>
#include <stdexcept>

#include <boost/json/object.hpp>

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

namespace keel::catalog {
namespace {

std::vector<std::string> ProductIds(const std::vector<OrderLine>& lines) {
    std::vector<std::string> ids;
    ids.reserve(lines.size());
    for (const auto& line : lines) ids.push_back(line.product_id);
    return ids;
}

std::string QuantityArray(const std::vector<OrderLine>& lines) {
    std::string out = "{";
    for (const auto& line : lines) {
        if (out.size() > 1) out += ',';
        out += std::to_string(line.quantity);
    }
    return out + "}";
}

// A PostgreSQL uuid[] literal of those of `ids` that are UUIDs (others are never
// products, and leaving them out keeps the literal well-formed).
std::string UuidArray(const std::vector<std::string>& ids) {
    std::string out = "{";
    for (const auto& id : ids) {
        if (!Uuid::Parse(id)) continue;
        if (out.size() > 1) out += ",";
        out += id;
    }
    return out + "}";
}

}  // namespace

constexpr std::string_view kLockProductsSql =
    "SELECT 1 FROM products WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE";

Task<void> ReservationStore::LockProducts(pg::Connection& c,
                                          const std::vector<std::string>& product_ids) {
    if (product_ids.empty()) co_return;
    co_await c.Execute(kLockProductsSql, UuidArray(product_ids));
}

constexpr std::string_view kReservedProductsSql = R"(
SELECT DISTINCT item->>'product_id'
FROM reservations r, jsonb_array_elements(r.items) AS item
WHERE r.order_id = ANY($1::uuid[]) AND r.status = 'reserved')";

Task<std::vector<std::string>> ReservationStore::ReservedProducts(
    pg::Connection& c, const std::vector<std::string>& order_ids) {
    std::vector<std::string> out;
    if (order_ids.empty()) co_return out;
    auto rows = co_await c.Execute(kReservedProductsSql, UuidArray(order_ids));
    for (int i = 0; i < rows.Rows(); ++i) out.emplace_back(rows.Text(i, 0));
    co_return out;
}

constexpr std::string_view kDecidedSql =
    "SELECT status FROM reservations WHERE order_id = $1::uuid";

constexpr std::string_view kLockStockSql = R"(
SELECT id::text, stock FROM products WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE)";

// The decision and, when it reserves, the stock taken: one statement. The stock is only
// taken when the reservation row was inserted (not when another delivery of the order
// decided it meanwhile, or its cancellation left a tombstone).
constexpr std::string_view kDecideSql = R"(
WITH inserted AS (
    INSERT INTO reservations (order_id, user_id, items, status)
    VALUES ($1::uuid, $2::uuid, $3::jsonb, $4::text)
    ON CONFLICT (order_id) DO NOTHING
    RETURNING 1),
taken AS (
    UPDATE products p SET stock = p.stock - t.quantity, updated_at = now()
    FROM unnest($5::uuid[], $6::bigint[]) AS t(id, quantity)
    WHERE p.id = t.id AND $4::text = 'reserved' AND EXISTS (SELECT 1 FROM inserted)
    RETURNING 1)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM taken))";

constexpr std::string_view kStatusesSql =
    "SELECT order_id::text, status FROM reservations WHERE order_id = ANY($1::uuid[])";

std::string Lower(std::string text) {
    for (auto& ch : text) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return text;
}

Task<ReservationStore::LockedBatch> ReservationStore::LockBatch(
    pg::Connection& c, const std::vector<PlacedOrder>& orders) {
    std::vector<std::string> products;
    std::vector<std::string> order_ids;
    for (const auto& order : orders) {
        order_ids.push_back(order.order_id);
        for (const auto& line : order.lines) products.push_back(line.product_id);
    }
    // The lock first: the statuses are read with a snapshot taken after it was granted.
    std::vector<pg::Statement> reads;
    reads.push_back(pg::Statement{std::string(kLockStockSql), {UuidArray(products)}});
    reads.push_back(pg::Statement{std::string(kStatusesSql), {UuidArray(order_ids)}});
    auto answers = co_await c.ExecuteMany(std::move(reads));
    LockedBatch batch;
    for (int i = 0; i < answers[0].Rows(); ++i)
        batch.stock.emplace(std::string(answers[0].Text(i, 0)), answers[0].Int(i, 1));
    for (int i = 0; i < answers[1].Rows(); ++i)
        batch.status.emplace(std::string(answers[1].Text(i, 0)),
                             std::string(answers[1].Text(i, 1)));
    co_return batch;
}

Task<ReservationStore::Decision> ReservationStore::Reserve(pg::Connection& c,
                                                           const PlacedOrder& order,
                                                           const bus::Origin& origin) {
    std::vector<PlacedOrder> one{order};
    auto batch = co_await LockBatch(c, one);
    co_return co_await Reserve(c, order, origin, batch);
}

Task<ReservationStore::Decision> ReservationStore::Reserve(pg::Connection& c,
                                                           const PlacedOrder& order,
                                                           const bus::Origin& origin,
                                                           LockedBatch& batch) {
    Decision decision;
    const std::string key = Lower(order.order_id);
    const auto known = batch.status.find(key);
    if (known != batch.status.end()) {
        const bool tombstone = known->second == "cancelled";
        if (tombstone) {
            known->second = "rejected";
            decision = co_await RefuseCancelled(c, order, origin);
        }
        co_return decision;
    }

    const auto ids = ProductIds(order.lines);
    decision.reason = RejectionReason(order.lines, batch.stock);
    const bool reserved = decision.reason.empty();
    decision.outcome = reserved ? Outcome::kReserved : Outcome::kRejected;

    const std::string status = reserved ? "reserved" : "rejected";
    auto decided_now =
        co_await c.Execute(kDecideSql, order.order_id, order.user_id, LinesToJson(order.lines),
                           status, UuidArray(ids), QuantityArray(order.lines));
    if (decided_now.Int(0, 0) == 0) {
        // Another delivery of this order (under another event id) decided it meanwhile,
        // or its cancellation left a tombstone while we waited on the key.
        batch.status[key] = "rejected";
        decision = co_await RefuseCancelled(c, order, origin);
        co_return decision;
    }
    batch.status[key] = status;
    if (reserved) {
        if (decided_now.Int(0, 1) != static_cast<std::int64_t>(order.lines.size()))
            throw std::logic_error("a locked product of order " + order.order_id + " vanished");
        for (const auto& line : order.lines) batch.stock[line.product_id] -= line.quantity;
    }
    co_await Announce(c, order, decision, origin);
    co_return decision;
}

constexpr std::string_view kRefuseCancelledSql = R"(
UPDATE reservations SET status = 'rejected', user_id = $2::uuid, items = $3::jsonb,
       updated_at = now()
WHERE order_id = $1::uuid AND status = 'cancelled')";

Task<ReservationStore::Decision> ReservationStore::RefuseCancelled(pg::Connection& c,
                                                                   const PlacedOrder& order,
                                                                   const bus::Origin& origin) {
    Decision decision;
    auto refused = co_await c.Execute(kRefuseCancelledSql, order.order_id, order.user_id,
                                      LinesToJson(order.lines));
    if (refused.Affected() == 0) co_return decision;
    // orders has the order CANCELLED already, so the rejection changes nothing there
    // and payments captures nothing on it; it keeps every placement answered.
    decision.outcome = Outcome::kRejected;
    decision.reason = std::string(kCancelledReason);
    co_await Announce(c, order, decision, origin);
    co_return decision;
}

Task<void> ReservationStore::Announce(pg::Connection& c, const PlacedOrder& order,
                                      const Decision& decision, const bus::Origin& origin) {
    boost::json::object event;
    event["order_id"] = order.order_id;
    event["user_id"] = order.user_id;
    std::string topic = "catalog.stock_rejected.v1";
    if (decision.outcome == Outcome::kReserved) {
        topic = "catalog.stock_reserved.v1";
        event["total"] = order.total;
        event["currency"] = order.currency;
    } else {
        event["reason"] = decision.reason;
    }
    const boost::json::value payload = std::move(event);
    co_await bus_->Emit(c, topic, payload, origin);
}

constexpr std::string_view kFindReservedSql = R"(
SELECT items::text FROM reservations WHERE order_id = $1::uuid AND status = 'reserved'
FOR UPDATE)";

constexpr std::string_view kGiveBackSql = R"(
UPDATE products p SET stock = p.stock + t.quantity, updated_at = now()
FROM unnest($1::uuid[], $2::bigint[]) AS t(id, quantity)
WHERE p.id = t.id
RETURNING p.id::text)";

constexpr std::string_view kMarkReleasedSql = R"(
UPDATE reservations SET status = 'released', updated_at = now() WHERE order_id = $1::uuid)";

constexpr std::string_view kTombstoneSql = R"(
INSERT INTO reservations (order_id, user_id, items, status)
VALUES ($1::uuid, $2::uuid, '[]'::jsonb, 'cancelled')
ON CONFLICT (order_id) DO NOTHING)";

Task<std::vector<std::string>> ReservationStore::Release(pg::Connection& c,
                                                         const std::string& order_id,
                                                         const std::string& user_id) {
    std::vector<std::string> changed;
    if (!Uuid::Parse(order_id)) {
        log::Warn("cancelled order id is not a UUID; nothing to release", {{"order_id", order_id}});
        co_return changed;
    }
    auto found = co_await c.Execute(kFindReservedSql, order_id);
    if (found.Rows() == 0) {
        // Rejected, released already, a tombstone already, or not placed here yet.
        if (!Uuid::Parse(user_id)) {
            log::Warn("cancelled order's user id is not a UUID; no tombstone",
                      {{"order_id", order_id}});
            co_return changed;
        }
        auto tombstone = co_await c.Execute(kTombstoneSql, order_id, user_id);
        if (tombstone.Affected() > 0) {
            log::Info("order cancelled before its placement arrived; tombstone recorded",
                      {{"order_id", order_id}});
            co_return changed;
        }
        // The order has a row: perhaps a reservation whose transaction committed while
        // the insert waited on the key, which this statement's snapshot now sees.
        found = co_await c.Execute(kFindReservedSql, order_id);
        if (found.Rows() == 0) co_return changed;
    }
    const auto lines = LinesFromJson(found.Text(0, 0));
    const auto ids = ProductIds(lines);
    co_await LockProducts(c, ids);
    auto given = co_await c.Execute(kGiveBackSql, UuidArray(ids), QuantityArray(lines));
    for (int i = 0; i < given.Rows(); ++i) changed.emplace_back(given.Text(i, 0));
    if (changed.size() != lines.size()) {
        log::Warn("reserved products were deleted since; their stock is not restored",
                  {{"order_id", order_id}});
    }
    co_await c.Execute(kMarkReleasedSql, order_id);
    co_return changed;
}

constexpr std::string_view kForgetTombstonesSql = R"(
DELETE FROM reservations WHERE order_id IN (
  SELECT order_id FROM reservations
  WHERE status = 'cancelled' AND created_at < now() - interval '7 days'
  LIMIT 100))";

Task<void> ReservationStore::ForgetOldTombstones(pg::Connection& c) {
    auto forgotten = co_await c.Execute(kForgetTombstonesSql);
    if (forgotten.Affected() > 0)
        log::Info("old cancellation tombstones deleted", {{"count", forgotten.Affected()}});
}

constexpr std::string_view kSummarizeSql = R"(
SELECT
  (SELECT COALESCE(sum((item->>'quantity')::bigint), 0)
     FROM reservations r, jsonb_array_elements(r.items) AS item
    WHERE r.status = 'reserved'),
  count(*) FILTER (WHERE status = 'reserved'),
  count(*) FILTER (WHERE status = 'rejected'),
  count(*) FILTER (WHERE status = 'released'),
  count(*) FILTER (WHERE status = 'cancelled')
FROM reservations)";

Task<ReservationStore::Summary> ReservationStore::Summarize() {
    auto rows = co_await pool_->Execute(kSummarizeSql);
    Summary s;
    s.reserved_units = rows.Int(0, 0);
    s.reserved = rows.Int(0, 1);
    s.rejected = rows.Int(0, 2);
    s.released = rows.Int(0, 3);
    s.tombstones = rows.Int(0, 4);
    co_return s;
}

}  // namespace keel::catalog
