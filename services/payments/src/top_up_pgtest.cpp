// Top-ups through the payment provider against a real PostgreSQL: the signed callback
// credits once; a replay credits nothing more; a forged one is a 401 and credits nothing.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <keel/core/uuid.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "migrations.hpp"
#include "provider_signature.hpp"
#include "routes.hpp"

namespace keel::payments {
namespace {
namespace json = boost::json;

const std::string kSecret = "test-provider-secret-0123456789";

std::string NewId() { return Uuid::V7().ToString(); }

std::string CallbackBody(const TopUpRecord& t, const std::string& provider_payment_id,
                         const std::string& status = "succeeded") {
    return json::serialize(json::object{{"top_up_id", t.id},
                                        {"provider_payment_id", provider_payment_id},
                                        {"status", status},
                                        {"amount", t.amount},
                                        {"currency", t.currency}});
}

struct Reply {
    http::Status status = http::Status::internal_server_error;
    json::value body;
    bool replayed = false;
};

// The callback route called as the server calls it (no socket); an HttpError becomes
// its status, as the server maps it.
Task<Reply> Callback(std::shared_ptr<PaymentsContext> ctx, std::string body,
                     std::string signature) {
    http::Request request{http::Verb::post, "/api/payments/provider/callback", 11};
    request.set("Content-Type", "application/json");
    if (!signature.empty()) request.set(kProviderSignatureHeader, signature);
    request.body() = body;
    request.prepare_payload();
    http::RequestContext req(request, "req-1", "127.0.0.1");
    Reply reply;
    try {
        auto response = co_await ProviderCallbackRoute(ctx, req);
        reply.status = response.result();
        reply.body = json::parse(response.body());
        reply.replayed = response.find("Idempotent-Replayed") != response.end();
    } catch (const http::HttpError& e) {
        reply.status = e.GetStatus();
    }
    co_return reply;
}

Task<std::shared_ptr<PaymentsContext>> Context(std::string db) {
    auto pool = co_await testing::MigratedPool(db, Migrations(), "payments");
    auto ctx = std::make_shared<PaymentsContext>();
    ctx->wallets = std::make_shared<WalletStore>(pool, "USD");
    ctx->top_ups = std::make_shared<TopUpStore>(pool, "USD");
    ctx->provider_secret = kSecret;
    co_return ctx;
}

KEEL_CORO_TEST(ProviderTopUp, ASignedCallbackCreditsOnceAndAReplayNothingMore) {
    auto ctx = co_await Context("payments_top_up");
    const auto user = NewId();
    const auto created = co_await ctx->top_ups->Create(user, 2500);
    EXPECT_EQ(created.status, "pending");
    EXPECT_EQ(created.currency, "USD");
    EXPECT_FALSE(created.provider_payment_id.has_value());
    EXPECT_EQ((co_await ctx->wallets->Get(user)).balance, 0);  // pending credits nothing

    const auto body = CallbackBody(created, "prov_1");
    const auto signature = SignProviderBody(kSecret, body);
    const auto first = co_await Callback(ctx, body, signature);
    EXPECT_EQ(first.status, http::Status::ok);
    EXPECT_FALSE(first.replayed);
    if (first.status == http::Status::ok) {
        EXPECT_TRUE(first.body.at("credited").as_bool());
        EXPECT_EQ(first.body.at("top_up").at("status").as_string(), "succeeded");
        EXPECT_EQ(first.body.at("top_up").at("provider_payment_id").as_string(), "prov_1");
    }
    EXPECT_EQ((co_await ctx->wallets->Get(user)).balance, 2500);

    // The provider retries the same callback (it did not see our answer): 200, nothing.
    for (int i = 0; i < 3; ++i) {
        const auto again = co_await Callback(ctx, body, signature);
        EXPECT_EQ(again.status, http::Status::ok);
        EXPECT_TRUE(again.replayed);
        if (again.status == http::Status::ok) {
            EXPECT_FALSE(again.body.at("credited").as_bool());
        }
    }
    // Another provider payment for a settled top-up: a conflict, nothing credited.
    const auto other = CallbackBody(created, "prov_2");
    EXPECT_EQ((co_await Callback(ctx, other, SignProviderBody(kSecret, other))).status,
              http::Status::conflict);
    EXPECT_EQ((co_await ctx->wallets->Get(user)).balance, 2500);
    const auto stored = co_await ctx->top_ups->Get(user, created.id);
    EXPECT_TRUE(stored && stored->status == "succeeded" && stored->completed_at.has_value());
    EXPECT_FALSE((co_await ctx->top_ups->Get(NewId(), created.id)).has_value());  // not theirs

    const auto history = co_await ctx->wallets->History(user, 10);
    EXPECT_EQ(history.size(), 1u);
    if (!history.empty()) {
        EXPECT_EQ(history[0].kind, "top_up");
    }
    const auto check = co_await ctx->wallets->Check();
    EXPECT_EQ(check.entries_sum, 0);
    EXPECT_EQ(check.wallets_sum, 2500);
    EXPECT_EQ(check.wallet_entries_sum, 2500);
}

KEEL_CORO_TEST(ProviderTopUp, AForgedOrUnsignedCallbackIs401AndCreditsNothing) {
    auto ctx = co_await Context("payments_top_up_forged");
    const auto user = NewId();
    const auto created = co_await ctx->top_ups->Create(user, 700);
    const auto body = CallbackBody(created, "prov_forged");
    const auto forged =
        co_await Callback(ctx, body, SignProviderBody("not-the-secret-at-all", body));
    EXPECT_EQ(forged.status, http::Status::unauthorized);
    EXPECT_EQ((co_await Callback(ctx, body, "")).status, http::Status::unauthorized);
    // A genuine signature of another body does not carry over to this one.
    const auto smaller = CallbackBody(created, "prov_forged", "failed");
    EXPECT_EQ((co_await Callback(ctx, body, SignProviderBody(kSecret, smaller))).status,
              http::Status::unauthorized);
    EXPECT_EQ((co_await ctx->wallets->Get(user)).balance, 0);
    const auto stored = co_await ctx->top_ups->Get(user, created.id);
    EXPECT_TRUE(stored && stored->status == "pending");

    // Without a configured secret nothing verifies, even a body signed with "".
    ctx->provider_secret.clear();
    EXPECT_EQ((co_await Callback(ctx, body, SignProviderBody("", body))).status,
              http::Status::unauthorized);
    EXPECT_EQ((co_await ctx->wallets->Get(user)).balance, 0);
}

KEEL_CORO_TEST(ProviderTopUp, WrongAmountUnknownTopUpAndFailuresCreditNothing) {
    auto ctx = co_await Context("payments_top_up_refused");
    const auto user = NewId();
    auto created = co_await ctx->top_ups->Create(user, 900);
    auto tampered = created;
    tampered.amount = 9000;
    const auto more = CallbackBody(tampered, "prov_more");
    EXPECT_EQ((co_await Callback(ctx, more, SignProviderBody(kSecret, more))).status,
              http::Status::unprocessable_entity);
    auto unknown = created;
    unknown.id = NewId();
    const auto nowhere = CallbackBody(unknown, "prov_nowhere");
    EXPECT_EQ((co_await Callback(ctx, nowhere, SignProviderBody(kSecret, nowhere))).status,
              http::Status::not_found);
    const auto failed = CallbackBody(created, "prov_failed", "failed");
    const auto reply = co_await Callback(ctx, failed, SignProviderBody(kSecret, failed));
    EXPECT_EQ(reply.status, http::Status::ok);
    if (reply.status == http::Status::ok) {
        EXPECT_EQ(reply.body.at("top_up").at("status").as_string(), "failed");
        EXPECT_FALSE(reply.body.at("credited").as_bool());
    }
    // A success arriving after the failure is a conflict: the top-up is settled.
    const auto late = CallbackBody(created, "prov_late");
    EXPECT_EQ((co_await Callback(ctx, late, SignProviderBody(kSecret, late))).status,
              http::Status::conflict);
    EXPECT_EQ((co_await ctx->wallets->Get(user)).balance, 0);
}

// The same callback delivered many times at once (the provider's retries crossing):
// one credit.
KEEL_CORO_TEST(ProviderTopUp, ConcurrentDeliveriesCreditOnce) {
    auto ctx = co_await Context("payments_top_up_race");
    const auto user = NewId();
    const auto created = co_await ctx->top_ups->Create(user, 1234);
    const auto body = CallbackBody(created, "prov_race");
    const auto signature = SignProviderBody(kSecret, body);
    std::vector<Reply> replies(8);
    auto deliver = [&](std::size_t i) -> Task<void> {
        replies[i] = co_await Callback(ctx, body, signature);
    };
    std::vector<Task<void>> tasks;
    for (std::size_t i = 0; i < replies.size(); ++i) tasks.push_back(deliver(i));
    co_await testing::RunConcurrently(std::move(tasks));
    int credited = 0;
    for (const auto& r : replies) {
        EXPECT_EQ(r.status, http::Status::ok);
        if (r.status == http::Status::ok) credited += r.body.at("credited").as_bool() ? 1 : 0;
    }
    EXPECT_EQ(credited, 1);
    EXPECT_EQ((co_await ctx->wallets->Get(user)).balance, 1234);
}

}  // namespace
}  // namespace keel::payments
