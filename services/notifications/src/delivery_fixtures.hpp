#pragma once
// What the notifications tests against PostgreSQL share: events as the consumers get
// them, handled in a transaction as the bus does, and one-value queries.
#include <cstdint>
#include <optional>
#include <string>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <keel/bus/codec.hpp>
#include <keel/core/uuid.hpp>
#include <keel/pg/pool.hpp>

#include "delivery_log.hpp"

namespace keel::notifications::fixtures {

// An event as the consumer hands it over: the payload went through its Avro schema.
inline bus::Event MakeEvent(const std::string& topic, const boost::json::value& payload,
                            std::string event_id = Uuid::V7().ToString()) {
    const auto& codec = bus::Codec::Embedded();
    bus::Event e;
    e.envelope.event_id = std::move(event_id);
    e.envelope.topic = topic;
    e.payload = codec.Decode(topic, codec.Encode(topic, payload));
    return e;
}

using Handler = Task<void> (*)(pg::Connection&, const bus::Event&);

inline Task<void> Handle(pg::Pool& pool, Handler handler, const bus::Event& event) {
    auto body = [&](pg::Connection& c) -> Task<void> { co_await handler(c, event); };
    co_await pool.Transaction(body);
}

inline Task<void> Profile(pg::Pool& pool, const std::string& user, std::optional<std::int64_t> chat,
                          std::int64_t updated_at) {
    boost::json::object p{{"user_id", user},
                          {"email", "u@example.com"},
                          {"display_name", "u"},
                          {"telegram_chat_id", nullptr},
                          {"updated_at", updated_at}};
    if (chat) p["telegram_chat_id"] = *chat;
    const boost::json::value payload = std::move(p);
    co_await Handle(pool, OnProfileUpdated, MakeEvent(kProfileUpdated, payload));
}

inline boost::json::array Items(std::int64_t total) {
    return boost::json::array{boost::json::object{
        {"product_id", Uuid::V7().ToString()}, {"quantity", 1}, {"unit_price", total}}};
}

inline bus::Event Confirmed(const std::string& order, const std::string& user, std::int64_t total) {
    const boost::json::value payload = boost::json::object{
        {"order_id", order}, {"user_id", user},   {"items", Items(total)},
        {"total", total},    {"currency", "USD"}, {"payment_id", Uuid::V7().ToString()}};
    return MakeEvent(kOrderConfirmed, payload);
}

inline bus::Event Cancelled(const std::string& order, const std::string& user, std::int64_t total) {
    const boost::json::value payload = boost::json::object{
        {"order_id", order}, {"user_id", user},   {"items", Items(total)},
        {"total", total},    {"currency", "EUR"}, {"reason", "payment declined"}};
    return MakeEvent(kOrderCancelled, payload);
}

inline bus::Event Receipt(const std::string& order, const std::string& user, std::int64_t number,
                          std::int64_t amount) {
    const boost::json::value payload = boost::json::object{{"receipt_id", Uuid::V7().ToString()},
                                                           {"receipt_number", number},
                                                           {"order_id", order},
                                                           {"payment_id", Uuid::V7().ToString()},
                                                           {"user_id", user},
                                                           {"amount", amount},
                                                           {"currency", "USD"},
                                                           {"issued_at", 1'700'000'000'000}};
    return MakeEvent(kReceiptIssued, payload);
}

inline Task<std::int64_t> Scalar(pg::Pool& pool, const std::string& sql) {
    auto r = co_await pool.Execute(sql);
    co_return r.IsNull(0, 0) ? -1 : r.Int(0, 0);
}

inline Task<std::string> Text(pg::Pool& pool, const std::string& sql) {
    auto r = co_await pool.Execute(sql);
    co_return r.Rows() == 0 || r.IsNull(0, 0) ? std::string("<null>") : std::string(r.Text(0, 0));
}

}  // namespace keel::notifications::fixtures
