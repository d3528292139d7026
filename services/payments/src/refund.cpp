#include "refund.hpp"

#include <stdexcept>

#include <boost/json/object.hpp>
#include <boost/json/value_to.hpp>

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

#include "capture.hpp"
#include "ledger.hpp"
#include "wallet_store.hpp"

namespace keel::payments {
namespace json = boost::json;

OrderCancelled ReadOrderCancelled(const json::value& payload) {
    const auto& o = payload.as_object();
    OrderCancelled order{json::value_to<std::string>(o.at("order_id")),
                         json::value_to<std::string>(o.at("user_id")),
                         json::value_to<std::string>(o.at("reason"))};
    if (!Uuid::Parse(order.order_id) || !Uuid::Parse(order.user_id)) {
        throw std::invalid_argument("order_cancelled with a malformed order_id or user_id: " +
                                    order.order_id + ", " + order.user_id);
    }
    return order;
}

constexpr std::string_view kRememberCancellationSql = R"(
INSERT INTO order_cancellations (order_id, user_id, reason) VALUES ($1, $2, $3)
ON CONFLICT (order_id) DO NOTHING)";
constexpr std::string_view kCaptureOfOrderSql = R"(
SELECT c.id::text, c.user_id::text, c.amount, c.currency,
       EXISTS (SELECT 1 FROM ledger_transactions r WHERE r.order_id = c.order_id AND r.kind = 'refund')
FROM ledger_transactions c WHERE c.order_id = $1 AND c.kind = 'capture')";

Task<RefundDecision> RecordCancellation(pg::Connection& c, const OrderCancelled& order) {
    RefundDecision decision;
    co_await LockOrder(c, order.order_id);
    co_await c.Execute(kRememberCancellationSql, order.order_id, order.user_id, order.reason);
    auto capture = co_await c.Execute(kCaptureOfOrderSql, order.order_id);
    if (capture.Rows() == 0) co_return decision;  // kNothingCaptured
    decision.payment_id = std::string(capture.Text(0, 0));
    decision.user_id = std::string(capture.Text(0, 1));
    decision.amount = capture.Int(0, 2);
    decision.currency = std::string(capture.Text(0, 3));
    if (capture.Bool(0, 4)) {
        decision.kind = RefundDecision::Kind::kAlreadyRefunded;
        co_return decision;
    }
    // The wallet paid the capture, so it holds the capture's currency.
    const auto balance =
        co_await CreditWallet(c, decision.user_id, decision.amount, decision.currency);
    if (!balance) {
        throw std::logic_error("the wallet that paid order " + order.order_id +
                               " holds another currency");
    }
    decision.kind = RefundDecision::Kind::kRefunded;
    decision.refund_id = Uuid::V7().ToString();
    const LedgerTransaction refund{.id = decision.refund_id,
                                   .kind = "refund",
                                   .user_id = decision.user_id,
                                   .order_id = order.order_id,
                                   .amount = decision.amount,
                                   .currency = decision.currency,
                                   .debit_account = kMerchantAccount,
                                   .credit_account = WalletAccount(decision.user_id)};
    co_await Record(c, refund);
    co_return decision;
}

namespace {

Task<void> HandleOrderCancelled(bus::Bus* bus, pg::Connection& c, const bus::Event& event) {
    const OrderCancelled order = ReadOrderCancelled(event.payload);
    const RefundDecision decision = co_await RecordCancellation(c, order);
    if (decision.kind != RefundDecision::Kind::kRefunded) co_return;
    log::Info("captured payment refunded: its order was cancelled",
              {{"order_id", order.order_id},
               {"payment_id", decision.payment_id},
               {"reason", order.reason}});
    const json::value refunded =
        json::object{{"refund_id", decision.refund_id}, {"payment_id", decision.payment_id},
                     {"order_id", order.order_id},      {"user_id", decision.user_id},
                     {"amount", decision.amount},       {"currency", decision.currency},
                     {"reason", order.reason},          {"refunded_at", bus::NowMicros() / 1000}};
    co_await bus->Emit(c, "payments.payment_refunded.v1", refunded, event.next);
}

}  // namespace

bus::EventHandler RefundHandler(bus::Bus& bus) {
    return [bus = &bus](pg::Connection& c, const bus::Event& event) {
        return HandleOrderCancelled(bus, c, event);
    };
}

}  // namespace keel::payments
