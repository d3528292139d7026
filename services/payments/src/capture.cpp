#include "capture.hpp"

#include <stdexcept>

#include <boost/json/object.hpp>
#include <boost/json/value_to.hpp>

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

#include "ledger.hpp"

namespace keel::payments {
namespace json = boost::json;

StockReserved ReadStockReserved(const json::value& payload) {
    const auto& o = payload.as_object();
    StockReserved order{
        json::value_to<std::string>(o.at("order_id")), json::value_to<std::string>(o.at("user_id")),
        o.at("total").to_number<std::int64_t>(), json::value_to<std::string>(o.at("currency"))};
    if (!Uuid::Parse(order.order_id) || !Uuid::Parse(order.user_id)) {
        throw std::invalid_argument("stock_reserved with a malformed order_id or user_id: " +
                                    order.order_id + ", " + order.user_id);
    }
    return order;
}

constexpr std::string_view kLockOrderSql =
    "SELECT pg_advisory_xact_lock(hashtextextended('payments:order:' || $1, 0))";
constexpr std::string_view kDecidedSql = R"(
SELECT EXISTS (SELECT 1 FROM ledger_transactions WHERE order_id = $1)
    OR EXISTS (SELECT 1 FROM payment_declines WHERE order_id = $1),
       EXISTS (SELECT 1 FROM order_cancellations WHERE order_id = $1))";
// Checked and debited in one statement: concurrent captures of one wallet queue on
// its row and each re-checks the balance it finds. It repeats kDecidedSql's conditions
// so that it can go in the same round trip as that check: it debits nothing for an
// order decided or cancelled already.
constexpr std::string_view kDebitUndecidedSql = R"(
UPDATE wallets SET balance = balance - $2, updated_at = now()
WHERE user_id = $1 AND currency = $3 AND balance >= $2
  AND NOT EXISTS (SELECT 1 FROM ledger_transactions WHERE order_id = $4)
  AND NOT EXISTS (SELECT 1 FROM payment_declines WHERE order_id = $4)
  AND NOT EXISTS (SELECT 1 FROM order_cancellations WHERE order_id = $4))";
constexpr std::string_view kDeclineSql = R"(
INSERT INTO payment_declines (order_id, user_id, amount, currency, reason)
VALUES ($1, $2, $3, $4, $5))";

Task<void> LockOrder(pg::Connection& c, std::string order_id) {
    co_await c.Execute(kLockOrderSql, order_id);
}

namespace {

constexpr std::string_view kWalletCurrencySql = "SELECT currency FROM wallets WHERE user_id = $1";

// Why the conditional debit matched no row.
Task<std::string> DeclineReason(pg::Connection& c, const StockReserved& order) {
    auto wallet = co_await c.Execute(kWalletCurrencySql, order.user_id);
    if (wallet.Rows() == 0) co_return kNoWallet;
    if (wallet.Text(0, 0) != order.currency) co_return kCurrencyMismatch;
    co_return kInsufficientFunds;
}

}  // namespace

Task<CaptureDecision> DecideCapture(pg::Connection& c, const StockReserved& order,
                                    const std::string& currency) {
    CaptureDecision decision;
    // The lock, the check and (when the amount and currency can be paid) the debit in one
    // round trip. Each is its own statement, so the check and the debit read with
    // snapshots taken after the lock was granted; the debit repeats the check, so it
    // changes nothing for an order decided or cancelled already.
    const bool payable = order.total > 0 && order.currency == currency;
    std::vector<pg::Statement> steps;
    steps.push_back(pg::Statement{std::string(kLockOrderSql), {order.order_id}});
    steps.push_back(pg::Statement{std::string(kDecidedSql), {order.order_id}});
    if (payable)
        steps.push_back(
            pg::Statement{std::string(kDebitUndecidedSql),
                          {order.user_id, pg::P(order.total), order.currency, order.order_id}});
    auto answers = co_await c.ExecuteMany(std::move(steps));
    const pg::Result decided = std::move(answers[1]);
    if (decided.Bool(0, 0)) co_return decision;  // kAlreadyDecided
    // The cancellation won the race: the stock_reserved event was late. orders has
    // already told catalog to release the stock, so nothing is left to do.
    if (decided.Bool(0, 1)) {
        decision.kind = CaptureDecision::Kind::kOrderCancelled;
        co_return decision;
    }

    decision.kind = CaptureDecision::Kind::kDeclined;
    if (order.total <= 0) {
        decision.reason = kInvalidAmount;
    } else if (order.currency != currency) {
        decision.reason = kCurrencyMismatch;
    } else {
        const pg::Result debited = std::move(answers[2]);
        if (debited.Affected() == 1) {
            decision.kind = CaptureDecision::Kind::kCaptured;
            decision.payment_id = Uuid::V7().ToString();
            const LedgerTransaction capture{.id = decision.payment_id,
                                            .kind = "capture",
                                            .user_id = order.user_id,
                                            .order_id = order.order_id,
                                            .amount = order.total,
                                            .currency = order.currency,
                                            .debit_account = WalletAccount(order.user_id),
                                            .credit_account = kMerchantAccount};
            co_await RecordLater(c, capture);
            co_return decision;
        }
        decision.reason = co_await DeclineReason(c, order);
    }
    co_await c.Execute(kDeclineSql, order.order_id, order.user_id, order.total, order.currency,
                       decision.reason);
    co_return decision;
}

namespace {

Task<void> HandleStockReserved(bus::Bus* bus, std::string currency, pg::Connection& c,
                               const bus::Event& event) {
    const StockReserved order = ReadStockReserved(event.payload);
    const CaptureDecision decision = co_await DecideCapture(c, order, currency);
    switch (decision.kind) {
        case CaptureDecision::Kind::kAlreadyDecided: {
            log::Info("order already decided; nothing to do", {{"order_id", order.order_id}});
            co_return;
        }
        case CaptureDecision::Kind::kOrderCancelled: {
            log::Info("order cancelled before its capture; not captured",
                      {{"order_id", order.order_id}});
            co_return;
        }
        case CaptureDecision::Kind::kCaptured: {
            const json::value captured = json::object{
                {"payment_id", decision.payment_id}, {"order_id", order.order_id},
                {"user_id", order.user_id},          {"amount", order.total},
                {"currency", order.currency},        {"captured_at", bus::NowMicros() / 1000}};
            co_await bus->Emit(c, "payments.payment_captured.v1", captured, event.next);
            co_return;
        }
        case CaptureDecision::Kind::kDeclined: {
            log::Info("payment declined", {{"order_id", order.order_id},
                                           {"user_id", order.user_id},
                                           {"reason", decision.reason}});
            const json::value declined = json::object{{"order_id", order.order_id},
                                                      {"user_id", order.user_id},
                                                      {"amount", order.total},
                                                      {"reason", decision.reason}};
            co_await bus->Emit(c, "payments.payment_declined.v1", declined, event.next);
            co_return;
        }
    }
}

// Locks the wallets of a batch in user id order before any debit: batches handled
// at once by other workers and instances then queue on the wallets they share
// instead of deadlocking, which PostgreSQL detects only after deadlock_timeout (1 s)
// and resolves by failing one batch. Events whose payload does not parse lock
// nothing here; their handler fails on its own.
constexpr std::string_view kLockWalletsSql =
    "SELECT 1 FROM wallets WHERE user_id = ANY($1::uuid[]) ORDER BY user_id FOR UPDATE";

Task<void> LockWallets(pg::Connection& c, std::span<const bus::Event> events) {
    std::string users = "{";
    for (const auto& event : events) {
        const auto* o = event.payload.if_object();
        const auto* user = o != nullptr ? o->if_contains("user_id") : nullptr;
        if (user == nullptr || !user->is_string() || !Uuid::Parse(user->get_string())) continue;
        if (users.size() > 1) users += ',';
        users += user->get_string();
    }
    users += '}';
    if (users.size() > 2) co_await c.Execute(kLockWalletsSql, users);
}

Task<void> HandleBatch(bus::Bus* bus, std::string currency, pg::Connection& c,
                       std::span<const bus::Event> events) {
    if (events.size() > 1) co_await LockWallets(c, events);
    for (const auto& event : events) co_await HandleStockReserved(bus, currency, c, event);
}

}  // namespace

bus::BatchHandler CaptureHandler(bus::Bus& bus, std::string currency) {
    return [bus = &bus, currency = std::move(currency)](pg::Connection& c,
                                                        std::span<const bus::Event> events) {
        return HandleBatch(bus, currency, c, events);
    };
}

}  // namespace keel::payments
