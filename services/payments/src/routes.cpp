#include "routes.hpp"

#include <stdexcept>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>
#include <keel/http/json_body.hpp>

#include "provider_signature.hpp"

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

// Operators' credit of a wallet (service token): Idempotency-Key required, so that a
// retried call never credits twice.
Task<Response> OperatorTopUp(std::shared_ptr<PaymentsContext> ctx, RequestContext& req) {
    const std::string user_id(req.Param("user_id"));
    if (!Uuid::Parse(user_id)) throw HttpError(Status::not_found, "no such user id");
    const auto key = ReadIdempotencyKey(req.Req());
    if (!key) throw HttpError(Status::bad_request, "an Idempotency-Key header is required");
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

boost::json::object TopUpJson(const TopUpRecord& t) {
    boost::json::object o{{"id", t.id},
                          {"amount", t.amount},
                          {"currency", t.currency},
                          {"status", t.status},
                          {"provider_payment_id", nullptr},
                          {"created_at", t.created_at},
                          {"completed_at", nullptr}};
    if (t.provider_payment_id) o["provider_payment_id"] = *t.provider_payment_id;
    if (t.completed_at) o["completed_at"] = *t.completed_at;
    return o;
}

Task<Response> CreateTopUp(std::shared_ptr<PaymentsContext> ctx, RequestContext& req) {
    const auto user_id = UserId(req);
    const auto amount = ReadAmount(req);
    const auto top_up = co_await ctx->top_ups->Create(user_id, amount);
    co_return http::JsonText(Status::created, http::ToJson(TopUpJson(top_up)));
}

Task<Response> GetTopUp(std::shared_ptr<PaymentsContext> ctx, RequestContext& req) {
    const auto user_id = UserId(req);
    const auto top_up = co_await ctx->top_ups->Get(user_id, std::string(req.Param("id")));
    if (!top_up) throw HttpError(Status::not_found, "no such top-up");
    co_return http::JsonText(Status::ok, http::ToJson(TopUpJson(*top_up)));
}

constexpr std::size_t kMaxProviderIdLength = 128;

ProviderCallback ReadCallback(const http::Request& request) {
    auto body = http::ParseJsonObject(request);
    http::ObjectReader reader(body);
    ProviderCallback cb;
    cb.top_up_id = reader.String("top_up_id", true, 1, 64).value_or("");
    cb.provider_payment_id =
        reader.String("provider_payment_id", true, 1, kMaxProviderIdLength).value_or("");
    cb.status = reader.String("status", true, 1, 16).value_or("");
    cb.amount = reader.Int("amount", true, 1, kMaxTopUp).value_or(0);
    cb.currency = reader.String("currency", true, 3, 3).value_or("");
    if (!cb.status.empty() && cb.status != "succeeded" && cb.status != "failed")
        reader.AddProblem("status", "must be succeeded or failed");
    reader.Finish();
    return cb;
}

}  // namespace

Task<Response> ProviderCallbackRoute(std::shared_ptr<PaymentsContext> ctx, RequestContext& req) {
    // Checked before anything is parsed: an unsigned body is not even read.
    const auto signature = req.Header(kProviderSignatureHeader).value_or("");
    if (!VerifyProviderSignature(ctx->provider_secret, req.Req().body(), signature)) {
        log::Warn("payment provider callback with a bad signature refused",
                  {{"client_ip", req.ClientIp()}});
        throw HttpError(Status::unauthorized,
                        std::string("missing or wrong ") + kProviderSignatureHeader);
    }
    const auto callback = ReadCallback(req.Req());
    const auto settled = co_await ctx->top_ups->Settle(callback);
    using Outcome = TopUpStore::Outcome;
    switch (settled.outcome) {
        case Outcome::kUnknown:
            throw HttpError(Status::not_found, "no such top-up");
        case Outcome::kMismatch:
            throw HttpError(Status::unprocessable_entity,
                            "amount or currency differ from the top-up's");
        case Outcome::kConflict:
            throw HttpError(Status::conflict,
                            "the top-up or the provider payment was settled with another");
        case Outcome::kCredited:
        case Outcome::kFailed:
        case Outcome::kReplayed:
            break;
    }
    const boost::json::object body{{"top_up", TopUpJson(*settled.top_up)},
                                   {"credited", settled.outcome == Outcome::kCredited}};
    Response r = http::JsonText(Status::ok, http::ToJson(body));
    if (settled.outcome == Outcome::kReplayed) r.set("Idempotent-Replayed", "true");
    co_return r;
}

namespace {

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
    router.Add(Verb::post, "/api/payments/top-ups", Access::kUser, http::Bind(CreateTopUp, ctx));
    router.Add(Verb::get, "/api/payments/top-ups/{id}", Access::kUser, http::Bind(GetTopUp, ctx));
    router.Add(Verb::post, "/api/payments/provider/callback", Access::kPublic,
               http::Bind(ProviderCallbackRoute, ctx));
    router.Add(Verb::get, "/api/payments/wallet", Access::kUser, http::Bind(GetWallet, ctx));
    router.Add(Verb::get, "/api/payments/wallet/transactions", Access::kUser,
               http::Bind(ListTransactions, ctx));
    router.Add(Verb::get, "/internal/ledger/check", Access::kService, http::Bind(CheckLedger, ctx));
    router.Add(Verb::post, "/internal/wallets/{user_id}/top-up", Access::kService,
               http::Bind(OperatorTopUp, ctx));
    return router;
}

}  // namespace keel::payments
