#include "delivery_log.hpp"

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

#include "delivery_text.hpp"

namespace keel::notifications {
namespace {

std::string Text(const boost::json::object& payload, std::string_view key) {
    return std::string(payload.at(key).as_string());
}

std::int64_t Number(const boost::json::object& payload, std::string_view key) {
    return payload.at(key).to_number<std::int64_t>();
}

// The chat is looked up now: a chat linked later does not receive earlier news.
constexpr std::string_view kInsertDeliverySql = R"(
INSERT INTO deliveries (event_id, user_id, kind, order_id, chat_id, text, status, last_error)
SELECT $1::uuid, u.user_id, $3, $4::uuid, c.telegram_chat_id, $5,
       CASE WHEN c.telegram_chat_id IS NULL THEN 'skipped' ELSE 'pending' END,
       CASE WHEN c.telegram_chat_id IS NULL THEN $6 END
FROM (SELECT $2::uuid AS user_id) u LEFT JOIN contacts c ON c.user_id = u.user_id
ON CONFLICT (event_id) DO NOTHING)";

Task<void> RecordDelivery(pg::Connection& c, const bus::Event& event, std::string_view kind,
                          const std::string& text) {
    const auto& payload = event.payload.as_object();
    const auto user_id = Text(payload, "user_id");
    const auto order_id = Text(payload, "order_id");
    auto result = co_await c.Execute(kInsertDeliverySql, event.envelope.event_id, user_id, kind,
                                     order_id, text, kNoLinkedChat);
    if (result.Affected() == 0) {
        log::Info("delivery exists already; event ignored",
                  {{"event_id", event.envelope.event_id}, {"topic", event.envelope.topic}});
    }
}

}  // namespace

constexpr std::string_view kUpsertContactSql = R"(
INSERT INTO contacts (user_id, telegram_chat_id, updated_at)
VALUES ($1::uuid, $2::bigint, timestamptz 'epoch' + $3::bigint * interval '1 millisecond')
ON CONFLICT (user_id) DO UPDATE
    SET telegram_chat_id = EXCLUDED.telegram_chat_id, updated_at = EXCLUDED.updated_at
    WHERE contacts.updated_at <= EXCLUDED.updated_at)";

Task<void> OnProfileUpdated(pg::Connection& c, const bus::Event& event) {
    const auto& payload = event.payload.as_object();
    const auto& chat = payload.at("telegram_chat_id");
    const pg::Param chat_id = chat.is_null() ? pg::Null() : pg::P(chat.to_number<std::int64_t>());
    co_await c.Execute(kUpsertContactSql, Text(payload, "user_id"), chat_id,
                       Number(payload, "updated_at"));
}

Task<void> OnOrderConfirmed(pg::Connection& c, const bus::Event& event) {
    const auto& p = event.payload.as_object();
    const auto text =
        OrderConfirmedText(Text(p, "order_id"), Number(p, "total"), Text(p, "currency"));
    co_await RecordDelivery(c, event, "order_confirmed", text);
}

Task<void> OnOrderCancelled(pg::Connection& c, const bus::Event& event) {
    const auto& p = event.payload.as_object();
    const auto text = OrderCancelledText(Text(p, "order_id"), Number(p, "total"),
                                         Text(p, "currency"), Text(p, "reason"));
    co_await RecordDelivery(c, event, "order_cancelled", text);
}

Task<void> OnReceiptIssued(pg::Connection& c, const bus::Event& event) {
    const auto& p = event.payload.as_object();
    const auto text = ReceiptIssuedText(Number(p, "receipt_number"), Text(p, "order_id"),
                                        Number(p, "amount"), Text(p, "currency"));
    co_await RecordDelivery(c, event, "receipt_issued", text);
}

void SubscribeConsumers(bus::Bus& bus) {
    bus.Subscribe(kProfileUpdated, bus::EventHandler(OnProfileUpdated));
    bus.Subscribe(kOrderConfirmed, bus::EventHandler(OnOrderConfirmed));
    bus.Subscribe(kOrderCancelled, bus::EventHandler(OnOrderCancelled));
    bus.Subscribe(kReceiptIssued, bus::EventHandler(OnReceiptIssued));
}

constexpr std::string_view kForUserSql = R"(
SELECT id, kind, order_id, status, text,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
       to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
FROM deliveries WHERE user_id = $1::uuid
ORDER BY created_at DESC, id DESC
LIMIT $2)";

Task<std::vector<DeliveryView>> DeliveryLog::ForUser(const std::string& user_id, int limit) {
    std::vector<DeliveryView> out;
    if (!Uuid::Parse(user_id)) co_return out;
    auto rows = co_await pool_->Execute(kForUserSql, user_id, limit);
    for (int i = 0; i < rows.Rows(); ++i) {
        out.push_back(DeliveryView{rows.Int(i, 0), std::string(rows.Text(i, 1)),
                                   std::string(rows.Text(i, 2)), std::string(rows.Text(i, 3)),
                                   std::string(rows.Text(i, 4)), std::string(rows.Text(i, 5)),
                                   rows.OptionalText(i, 6)});
    }
    co_return out;
}

constexpr std::string_view kStatsSql = R"(
SELECT count(*) FILTER (WHERE status = 'sent'),
       count(*) FILTER (WHERE status = 'pending'),
       count(*) FILTER (WHERE status = 'failed'),
       count(*) FILTER (WHERE status = 'skipped'),
       (SELECT coalesce(sum(n - 1), 0)::bigint
        FROM (SELECT count(*) AS n FROM deliveries GROUP BY order_id, kind) per_outcome)
FROM deliveries)";

Task<DeliveryStats> DeliveryLog::Stats() {
    auto r = co_await pool_->Execute(kStatsSql);
    co_return DeliveryStats{r.Int(0, 0), r.Int(0, 1), r.Int(0, 2), r.Int(0, 3), r.Int(0, 4)};
}

}  // namespace keel::notifications
