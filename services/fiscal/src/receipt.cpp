#include "receipt.hpp"

#include <stdexcept>

#include <boost/json/value_to.hpp>

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

namespace keel::fiscal {
namespace json = boost::json;

json::object ToJsonObject(const Receipt& r) {
    json::object o{{"id", r.id},
                   {"number", r.number},
                   {"kind", r.kind},
                   {"order_id", r.order_id},
                   {"payment_id", r.payment_id},
                   {"user_id", r.user_id},
                   {"amount", r.amount},
                   {"currency", r.currency},
                   {"issued_at", r.issued_at}};
    if (r.kind == "refund") {
        o["refund_id"] = r.refund_id;
        if (r.sale_receipt_id.empty())
            o["sale_receipt_id"] = nullptr;
        else
            o["sale_receipt_id"] = r.sale_receipt_id;
    }
    return o;
}

PaymentCaptured ReadPaymentCaptured(const json::value& payload) {
    const auto& o = payload.as_object();
    PaymentCaptured p{
        json::value_to<std::string>(o.at("payment_id")),
        json::value_to<std::string>(o.at("order_id")), json::value_to<std::string>(o.at("user_id")),
        o.at("amount").to_number<std::int64_t>(), json::value_to<std::string>(o.at("currency"))};
    if (!Uuid::Parse(p.payment_id) || !Uuid::Parse(p.order_id) || !Uuid::Parse(p.user_id)) {
        throw std::invalid_argument("payment_captured with a malformed id: payment " +
                                    p.payment_id + ", order " + p.order_id + ", user " + p.user_id);
    }
    return p;
}

PaymentRefunded ReadPaymentRefunded(const json::value& payload) {
    const auto& o = payload.as_object();
    PaymentRefunded p{json::value_to<std::string>(o.at("refund_id")),
                      json::value_to<std::string>(o.at("payment_id")),
                      json::value_to<std::string>(o.at("order_id")),
                      json::value_to<std::string>(o.at("user_id")),
                      o.at("amount").to_number<std::int64_t>(),
                      json::value_to<std::string>(o.at("currency"))};
    if (!Uuid::Parse(p.refund_id) || !Uuid::Parse(p.payment_id) || !Uuid::Parse(p.order_id) ||
        !Uuid::Parse(p.user_id)) {
        throw std::invalid_argument("payment_refunded with a malformed id: refund " + p.refund_id +
                                    ", payment " + p.payment_id + ", order " + p.order_id +
                                    ", user " + p.user_id);
    }
    return p;
}

// The NOT EXISTS keeps a duplicate from drawing a number from the sequence (a column
// default is evaluated only for rows that get inserted); ON CONFLICT covers the race
// of two first deliveries. Two equality probes rather than one OR: each is an index
// lookup, where the OR was planned as a scan of the whole table in cached plans made
// while the table was small.
constexpr std::string_view kIssueSql = R"(
INSERT INTO receipts (id, order_id, payment_id, user_id, amount, currency)
SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::bigint, $6::text
WHERE NOT EXISTS (SELECT 1 FROM receipts WHERE order_id = $2::uuid AND kind = 'sale')
  AND NOT EXISTS (SELECT 1 FROM receipts WHERE payment_id = $3::uuid AND kind = 'sale')
ON CONFLICT DO NOTHING
RETURNING number, to_char(issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          floor(extract(epoch FROM issued_at) * 1000)::bigint)";

Task<std::optional<Receipt>> IssueReceipt(pg::Connection& c, const PaymentCaptured& p) {
    Receipt r{
        Uuid::V7().ToString(), 0, p.order_id, p.payment_id, p.user_id, p.amount, p.currency, "", 0};
    auto rows = co_await c.Execute(kIssueSql, r.id, p.order_id, p.payment_id, p.user_id, p.amount,
                                   p.currency);
    if (rows.Rows() == 0) co_return std::nullopt;
    r.number = rows.Int(0, 0);
    r.issued_at = std::string(rows.Text(0, 1));
    r.issued_at_ms = rows.Int(0, 2);
    co_return r;
}

// As kIssueSql, for the one refund receipt of an order. Its sale receipt (if issued
// yet) is looked up to return the link.
constexpr std::string_view kIssueRefundSql = R"(
INSERT INTO receipts (id, kind, order_id, payment_id, refund_id, user_id, amount, currency)
SELECT $1::uuid, 'refund', $2::uuid, $3::uuid, $4::uuid, $5::uuid, $6::bigint, $7::text
WHERE NOT EXISTS (SELECT 1 FROM receipts WHERE order_id = $2::uuid AND kind = 'refund')
ON CONFLICT DO NOTHING
RETURNING number, to_char(issued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          floor(extract(epoch FROM issued_at) * 1000)::bigint,
          (SELECT id::text FROM receipts WHERE order_id = $2::uuid AND kind = 'sale'))";

Task<std::optional<Receipt>> IssueRefundReceipt(pg::Connection& c, const PaymentRefunded& p) {
    Receipt r{Uuid::V7().ToString(),
              0,
              p.order_id,
              p.payment_id,
              p.user_id,
              p.amount,
              p.currency,
              "",
              0,
              "refund",
              p.refund_id,
              ""};
    auto rows = co_await c.Execute(kIssueRefundSql, r.id, p.order_id, p.payment_id, p.refund_id,
                                   p.user_id, p.amount, p.currency);
    if (rows.Rows() == 0) co_return std::nullopt;
    r.number = rows.Int(0, 0);
    r.issued_at = std::string(rows.Text(0, 1));
    r.issued_at_ms = rows.Int(0, 2);
    if (!rows.IsNull(0, 3)) r.sale_receipt_id = std::string(rows.Text(0, 3));
    co_return r;
}

namespace {

Task<void> HandlePaymentRefunded(pg::Connection& c, const bus::Event& event) {
    const PaymentRefunded refund = ReadPaymentRefunded(event.payload);
    const auto receipt = co_await IssueRefundReceipt(c, refund);
    if (!receipt) {
        log::Info("order already has a refund receipt; nothing to do",
                  {{"refund_id", refund.refund_id}, {"order_id", refund.order_id}});
        co_return;
    }
    if (receipt->sale_receipt_id.empty()) {
        log::Info("refund receipted before the sale receipt; the sale follows with its capture",
                  {{"order_id", refund.order_id}});
    }
}

Task<void> HandlePaymentCaptured(bus::Bus* bus, pg::Connection& c, const bus::Event& event) {
    const PaymentCaptured payment = ReadPaymentCaptured(event.payload);
    const auto receipt = co_await IssueReceipt(c, payment);
    if (!receipt) {
        log::Info("payment already has a receipt; nothing to do",
                  {{"payment_id", payment.payment_id}, {"order_id", payment.order_id}});
        co_return;
    }
    const json::value issued =
        json::object{{"receipt_id", receipt->id},     {"receipt_number", receipt->number},
                     {"order_id", receipt->order_id}, {"payment_id", receipt->payment_id},
                     {"user_id", receipt->user_id},   {"amount", receipt->amount},
                     {"currency", receipt->currency}, {"issued_at", receipt->issued_at_ms}};
    co_await bus->Emit(c, "fiscal.receipt_issued.v1", issued, event.next);
}

}  // namespace

bus::EventHandler RefundReceiptHandler() {
    return
        [](pg::Connection& c, const bus::Event& event) { return HandlePaymentRefunded(c, event); };
}

bus::EventHandler ReceiptHandler(bus::Bus& bus) {
    return [bus = &bus](pg::Connection& c, const bus::Event& event) {
        return HandlePaymentCaptured(bus, c, event);
    };
}

}  // namespace keel::fiscal
