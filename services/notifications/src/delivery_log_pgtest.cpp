// The consumers and the delivery log against a real PostgreSQL, read through the routes.
#include <boost/json/parse.hpp>

#include <keel/core/uuid.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/routes.hpp>

#include "delivery_fixtures.hpp"
#include "delivery_log.hpp"
#include "migrations.hpp"
#include "routes.hpp"

namespace keel::notifications {
namespace {

namespace json = boost::json;
using fixtures::Cancelled;
using fixtures::Confirmed;
using fixtures::Handle;
using fixtures::Profile;
using fixtures::Receipt;
using fixtures::Scalar;
using fixtures::Text;

// GET `path` as `principal`, which must answer 200; its body.
Task<json::value> Call(const http::Router& router, std::string path, http::Principal principal) {
    const auto reply = co_await testing::CallRoute(router, http::Verb::get, std::move(path), "",
                                                   std::move(principal));
    EXPECT_EQ(reply.status, http::Status::ok) << reply.body;
    co_return json::parse(reply.body);
}

KEEL_CORO_TEST(Deliveries, OnePerEventToTheChatLinkedAtThatTimeOrSkipped) {
    auto pool = co_await testing::MigratedPool("notify_events", Migrations(), "notifications");
    const auto ann = Uuid::V7().ToString(), bob = Uuid::V7().ToString();
    const auto o1 = Uuid::V7().ToString(), o2 = Uuid::V7().ToString(), o3 = Uuid::V7().ToString();
    co_await Profile(*pool, ann, 1001, 2000);

    const auto confirmed = Confirmed(o1, ann, 1200);
    co_await Handle(*pool, OnOrderConfirmed, confirmed);
    co_await Handle(*pool, OnOrderConfirmed, confirmed);  // the same event again: no new row
    co_await Handle(*pool, OnOrderCancelled, Cancelled(o2, bob, 550));
    co_await Handle(*pool, OnReceiptIssued, Receipt(o1, ann, 42, 1200));

    EXPECT_EQ(co_await Scalar(*pool, "SELECT count(*) FROM deliveries"), 3);
    EXPECT_EQ(co_await Text(*pool,
                            "SELECT status || ' ' || chat_id || ' ' || text FROM deliveries "
                            "WHERE kind = 'order_confirmed'"),
              "pending 1001 Order " + o1 + " is confirmed. Total: 12.00 USD.");
    EXPECT_EQ(co_await Text(*pool,
                            "SELECT status || ' ' || last_error || ' ' || text FROM deliveries "
                            "WHERE kind = 'order_cancelled' AND chat_id IS NULL"),
              "skipped no linked Telegram chat Order " + o2 +
                  " (5.50 EUR) was cancelled: payment declined.");
    EXPECT_EQ(co_await Text(*pool, "SELECT text FROM deliveries WHERE kind = 'receipt_issued'"),
              "Receipt No. 42 for order " + o1 + ": 12.00 USD.");

    // Profile events out of order: an older one changes nothing, a newer unlinks.
    co_await Profile(*pool, ann, 999, 1000);
    EXPECT_EQ(co_await Scalar(*pool, "SELECT telegram_chat_id FROM contacts"), 1001);
    co_await Profile(*pool, ann, std::nullopt, 3000);
    EXPECT_EQ(co_await Scalar(*pool, "SELECT telegram_chat_id FROM contacts"), -1);
    co_await Handle(*pool, OnOrderConfirmed, Confirmed(o3, ann, 100));
    EXPECT_EQ(co_await Text(*pool, "SELECT status FROM deliveries WHERE order_id = '" + o3 + "'"),
              "skipped");

    auto ctx = std::make_shared<NotificationsContext>();
    ctx->log = std::make_shared<DeliveryLog>(pool);
    const auto router = MakeRouter(ctx);
    const http::Principal service{"tests", "service"};
    EXPECT_EQ(co_await Call(router, "/internal/deliveries/stats", service),
              json::parse(R"({"sent":0,"pending":2,"failed":0,"skipped":2,"duplicate_events":0})"));
    // orders says "confirmed" twice for one order (two event ids): counted.
    co_await Handle(*pool, OnOrderConfirmed, Confirmed(o1, ann, 1200));
    EXPECT_EQ((co_await Call(router, "/internal/deliveries/stats", service)).at("duplicate_events"),
              1);

    const http::Principal ann_user{ann, "user"}, bob_user{bob, "user"};
    const auto mine = co_await Call(router, "/api/notifications/me", ann_user);
    const auto& items = mine.at("items").as_array();
    EXPECT_EQ(items.size(), 4u);
    if (items.size() == 4) {
        const auto& newest = items[0].as_object();
        EXPECT_EQ(newest.at("order_id").as_string(), o1);
        EXPECT_EQ(newest.at("kind").as_string(), "order_confirmed");
        EXPECT_EQ(items[1].at("order_id").as_string(), o3);
        EXPECT_EQ(items[1].at("status").as_string(), "skipped");
        EXPECT_EQ(items[3].at("text").as_string(),
                  "Order " + o1 + " is confirmed. Total: 12.00 USD.");
        EXPECT_TRUE(newest.at("sent_at").is_null());
        EXPECT_EQ(newest.size(), 7u);
        EXPECT_TRUE(newest.at("id").is_int64());
        EXPECT_EQ(newest.at("created_at").as_string().size(), 24u);  // 2026-01-02T03:04:05.678Z
    }
    const auto bobs = co_await Call(router, "/api/notifications/me", bob_user);
    EXPECT_EQ(bobs.at("items").as_array().size(), 1u);
}

}  // namespace
}  // namespace keel::notifications
