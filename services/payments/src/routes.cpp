#include "routes.hpp"

#include <stdexcept>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <keel/core/uuid.hpp>
#include <keel/http/json_body.hpp>

namespace keel::payments {
namespace {

using http::HttpError;
using http::RequestContext;
using http::Response;
using http::Status;

constexpr std::int64_t kMaxTopUp = 1'000'000'000;
constexpr int kDefaultLimit = 20;
constexpr int kMaxLimit = 100;
constexpr std::size_t kMaxKeyLength = 255;

// Wallets are keyed by the token's subject, which auth makes a UUID.
std::string UserId(const RequestContext& req) {
    const auto& subject = req.User()->subject;
    if (!Uuid::Parse(subject)) throw HttpError(Status::forbidden, "token subject is not a user id");
    return subject;
}

std::int64_t ReadAmount(const RequestContext& req) {
    auto body = http::ParseJsonObject(req.Req());
    http::ObjectReader reader(body);
    auto amount = reader.Int("amount", true, 1, kMaxTopUp);
    reader.Finish();
    if (!amount) throw std::logic_error("top-up accepted without an amount");
    return *amount;
}

Response WalletResponse(const Wallet& wallet) {
    const boost::json::object body{
        {"user_id", wallet.user_id}, {"balance", wallet.balance}, {"currency", wallet.currency}};
    return http::JsonText(Status::ok, http::ToJson(body));
}

Task<Response> TopUp(std::shared_ptr<PaymentsContext> ctx, RequestContext& req) {
    const auto user_id = UserId(req);
    const auto key = ReadIdempotencyKey(req.Req());
    const auto amount = ReadAmount(req);
    const auto result = co_await ctx->wallets->TopUpWallet(user_id, amount, key);
    using Outcome = WalletStore::TopUpOutcome;
    if (result.outcome == Outcome::kKeyReused) {
        throw HttpError(Status::conflict,
                        "this Idempotency-Key was used for a top-up of another amount");
    }
    if (result.outcome == Outcome::kCurrencyMismatch) {
        throw HttpError(Status::conflict,
                        "the wallet holds another currency than " + ctx->wallets->Currency());
    }
    Response r = WalletResponse(result.wallet);
    if (result.outcome == Outcome::kReplayed) r.set("Idempotent-Replayed", "true");
    co_return r;
}

Task<Response> GetWallet(std::shared_ptr<PaymentsContext> ctx, RequestContext& req) {
    const auto wallet = co_await ctx->wallets->Get(UserId(req));
    co_return WalletResponse(wallet);
}

Task<Response> ListTransactions(std::shared_ptr<PaymentsContext> ctx, RequestContext& req) {
    const auto user_id = UserId(req);
    const auto history =
        co_await ctx->wallets->History(user_id, req.QueryInt("limit", kDefaultLimit, 1, kMaxLimit));
    boost::json::array items;
    for (const auto& t : history) {
        boost::json::object item{{"id", t.id},
                                 {"kind", t.kind},
                                 {"amount", t.amount},
                                 {"order_id", nullptr},
                                 {"created_at", t.created_at}};
        if (t.order_id) item["order_id"] = *t.order_id;
        items.push_back(std::move(item));
    }
    const boost::json::object body{{"items", std::move(items)}};
    co_return http::JsonText(Status::ok, http::ToJson(body));
}

Task<Response> CheckLedger(std::shared_ptr<PaymentsContext> ctx, RequestContext&) {
    const auto check = co_await ctx->wallets->Check();
    const boost::json::object body{{"entries_sum", check.entries_sum},
                                   {"wallets_sum", check.wallets_sum},
                                   {"wallet_entries_sum", check.wallet_entries_sum},
                                   {"unbalanced_transactions", check.unbalanced_transactions}};
    co_return http::JsonText(Status::ok, http::ToJson(body));
}

}  // namespace

std::optional<std::string> ReadIdempotencyKey(const http::Request& request) {
    const auto field = request.find("Idempotency-Key");
    if (field == request.end()) return std::nullopt;
    const std::string_view key = field->value();
    bool visible = !key.empty() && key.size() <= kMaxKeyLength;
    for (char c : key) visible = visible && c > 0x20 && c < 0x7f;
    if (!visible) {
        throw HttpError(Status::bad_request,
                        "Idempotency-Key must be 1 to 255 visible ASCII characters");
    }
    return std::string(key);
}

http::Router MakeRouter(const std::shared_ptr<PaymentsContext>& ctx) {
    using http::Access;
    using http::Verb;
    http::Router router;
    router.Add(Verb::post, "/api/payments/wallet/top-up", Access::kUser, http::Bind(TopUp, ctx));
    router.Add(Verb::get, "/api/payments/wallet", Access::kUser, http::Bind(GetWallet, ctx));
    router.Add(Verb::get, "/api/payments/wallet/transactions", Access::kUser,
               http::Bind(ListTransactions, ctx));
    router.Add(Verb::get, "/internal/ledger/check", Access::kService, http::Bind(CheckLedger, ctx));
    return router;
}

}  // namespace keel::payments
