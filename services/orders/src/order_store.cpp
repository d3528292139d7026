#include "order_store.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>
#include <keel/http/json_body.hpp>

namespace keel::orders {
namespace json = boost::json;

namespace {

constexpr std::string_view kColumns =
    "id::text, user_id::text, status, items::text, total, currency, reason, payment_id::text, "
    "correlation_id, "
    "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

Order Read(const pg::Result& r, int row) {
    Order o;
    o.id = std::string(r.Text(row, 0));
    o.user_id = std::string(r.Text(row, 1));
    o.status = std::string(r.Text(row, 2));
    const auto items = json::parse(r.Text(row, 3));
    o.items = LinesFromJson(items);
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
struct KeyRace : std::exception {};

}  // namespace

Task<std::optional<Order>> OrderStore::FindByKey(const std::string& user_id, const std::string& key,
                                                 const std::string& request_hash) {
    auto r = co_await pool_->Execute(
        "SELECT order_id::text, request_hash FROM idempotency_keys WHERE user_id = $1 AND key = $2",
        user_id, key);
    if (r.Rows() == 0) co_return std::nullopt;
    if (r.Text(0, 1) != request_hash)
        throw http::HttpError(http::Status::conflict,
                              "this Idempotency-Key was already used with a different order body");
    co_return co_await Get(std::string(r.Text(0, 0)));
}

Task<OrderStore::Placed> OrderStore::Place(Order order, const std::string& key,
                                           const std::string& request_hash,
                                           const bus::Origin& origin) {
    order.id = Uuid::V7().ToString();
    order.status = "PENDING";
    order.correlation_id = origin.correlation_id;
    bool race = false;
    auto write = [&](pg::Connection& c) -> Task<void> {
        const std::string items = json::serialize(LinesToJson(order.items));
        co_await c.Execute(
            "INSERT INTO orders (id, user_id, status, items, total, currency, correlation_id) "
            "VALUES ($1, $2, 'PENDING', $3::jsonb, $4, $5, $6)",
            order.id, order.user_id, items, order.total, order.currency, order.correlation_id);
        auto key_row = co_await c.Execute(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, order_id) VALUES ($1, $2, "
            "$3, $4) "
            "ON CONFLICT DO NOTHING",
            order.user_id, key, request_hash, order.id);
        if (key_row.Affected() == 0) throw KeyRace{};
        const json::value event = json::object{{"order_id", order.id},
                                               {"user_id", order.user_id},
                                               {"items", LinesToJson(order.items)},
                                               {"total", order.total},
                                               {"currency", order.currency},
                                               {"placed_at", bus::NowMicros() / 1000}};
        co_await bus_->Emit(c, "orders.order_placed.v1", event, origin);
    };
    try {
        co_await bus_->Transaction(write);
    } catch (const KeyRace&) {
        race = true;
    }
    if (race) {
        auto earlier = co_await FindByKey(order.user_id, key, request_hash);
        if (!earlier)
            throw http::HttpError(http::Status::conflict,
                                  "a request with this Idempotency-Key is in progress");
        co_return Placed{std::move(*earlier), true};
    }
    auto stored = co_await Get(order.id);
    co_return Placed{std::move(*stored), false};
}

Task<std::optional<Order>> OrderStore::Get(const std::string& id) {
    auto r = co_await pool_->Execute(
        "SELECT " + std::string(kColumns) + " FROM orders WHERE id = $1", id);
    if (r.Rows() == 0) co_return std::nullopt;
    co_return Read(r, 0);
}

Task<std::vector<Order>> OrderStore::ListByUser(const std::string& user_id, int limit) {
    auto r = co_await pool_->Execute(
        "SELECT " + std::string(kColumns) +
            " FROM orders WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        user_id, limit);
    std::vector<Order> out;
    for (int i = 0; i < r.Rows(); ++i) out.push_back(Read(r, i));
    co_return out;
}

Task<void> OrderStore::Confirm(pg::Connection& c, const bus::Event& captured) {
    const auto& p = captured.payload.as_object();
    const std::string order_id(p.at("order_id").as_string());
    const std::string payment_id(p.at("payment_id").as_string());
    auto r = co_await c.Execute(
        "UPDATE orders SET status = 'CONFIRMED', payment_id = $2, updated_at = clock_timestamp() "
        "WHERE id = $1 AND status = 'PENDING' RETURNING user_id::text, items::text, total, "
        "currency",
        order_id, payment_id);
    if (r.Rows() == 0) {
        log::Warn("payment captured for an order that is not pending; left as it is",
                  {{"order_id", order_id}});
        co_return;
    }
    const json::value event = json::object{{"order_id", order_id},
                                           {"user_id", std::string(r.Text(0, 0))},
                                           {"items", json::parse(r.Text(0, 1))},
                                           {"total", r.Int(0, 2)},
                                           {"currency", std::string(r.Text(0, 3))},
                                           {"payment_id", payment_id}};
    co_await bus_->Emit(c, "orders.order_confirmed.v1", event, captured.next);
}

Task<void> OrderStore::Cancel(pg::Connection& c, const bus::Event& event, std::string reason) {
    const std::string order_id(event.payload.at("order_id").as_string());
    auto r = co_await c.Execute(
        "UPDATE orders SET status = 'CANCELLED', reason = $2, updated_at = clock_timestamp() "
        "WHERE id = $1 AND status = 'PENDING' RETURNING user_id::text, items::text, total, "
        "currency",
        order_id, reason);
    if (r.Rows() == 0) {
        log::Warn("cancellation for an order that is not pending; left as it is",
                  {{"order_id", order_id}});
        co_return;
    }
    const json::value cancelled = json::object{{"order_id", order_id},
                                               {"user_id", std::string(r.Text(0, 0))},
                                               {"items", json::parse(r.Text(0, 1))},
                                               {"total", r.Int(0, 2)},
                                               {"currency", std::string(r.Text(0, 3))},
                                               {"reason", reason}};
    co_await bus_->Emit(c, "orders.order_cancelled.v1", cancelled, event.next);
}

}  // namespace keel::orders
