#include <gtest/gtest.h>

#include <keel/testing/openapi.hpp>

#include "routes.hpp"

namespace keel::orders {
namespace {

const std::string kMug = "00000000-0000-4000-8000-000000000001";
const std::string kTee = "00000000-0000-4000-8000-000000000002";

http::Request Post(std::string body) {
    http::Request r{http::Verb::post, "/api/orders", 11};
    r.set(http::beast_http::field::content_type, "application/json");
    r.body() = std::move(body);
    r.prepare_payload();
    return r;
}

std::string Problem(const std::string& body) {
    try {
        ReadOrderRequest(Post(body));
    } catch (const http::HttpError& e) {
        return e.Detail() + " " + e.ExtraMembers();
    }
    return "";
}

TEST(OrdersRoutes, MatchOpenApi) {
    const auto router = MakeRouter(std::make_shared<OrdersContext>());
    EXPECT_EQ(testing::RouterOperations(router),
              testing::OpenApiOperations(KEEL_SOURCE_DIR "/services/orders/openapi.yaml"));
}

TEST(OrderRequestBody, IsReadIntoANormalisedRequest) {
    const auto request = ReadOrderRequest(Post(
        R"({"items":[{"product_id":"00000000-0000-4000-8000-000000000002","quantity":1},
        {"product_id":"00000000-0000-4000-8000-00000000000A","quantity":2}]})"));
    EXPECT_EQ(request.items.size(), 2u);
    EXPECT_EQ(request.items.front().product_id, kTee);  // sorted by product
    EXPECT_EQ(request.items.back().product_id, "00000000-0000-4000-8000-00000000000a");
    EXPECT_EQ(request.items.back().quantity, 2);
    EXPECT_EQ(request.hash, MakeOrderRequest(request.items).hash);
}

TEST(OrderRequestBody, RefusesBadLinesNamingThem) {
    EXPECT_NE(Problem(R"({"items":[]})").find("1 to 50"), std::string::npos);
    EXPECT_NE(Problem(R"({})").find("items"), std::string::npos);
    EXPECT_NE(Problem(R"({"items":[{"product_id":"nope","quantity":1}]})").find("items[0]"),
              std::string::npos);
    EXPECT_NE(
        Problem(R"({"items":[{"product_id":"00000000-0000-4000-8000-000000000001","quantity":0}]})")
            .find("items[0]"),
        std::string::npos);
    EXPECT_NE(
        Problem(R"({"items":[{"product_id":"00000000-0000-4000-8000-000000000001","quantity":1},
        {"product_id":"00000000-0000-4000-8000-000000000001","quantity":3}]})")
            .find("lists product " + kMug + " twice"),
        std::string::npos);
    EXPECT_NE(
        Problem(
            R"({"items":[{"product_id":"00000000-0000-4000-8000-000000000001","quantity":1}],"coupon":"x"})")
            .find("coupon"),
        std::string::npos);
    EXPECT_NE(Problem(R"({"items":[7]})").find("items[0] must be an object"), std::string::npos);
}

TEST(OrderRequestBody, ListsEveryProblemInOneAnswer) {
    try {
        ReadOrderRequest(
            Post(R"({"items":[{"product_id":"zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz","quantity":1},
            {"product_id":"00000000-0000-4000-8000-000000000001","quantity":1001}],"x":1})"));
        ADD_FAILURE() << "accepted a bad body";
    } catch (const http::HttpError& e) {
        EXPECT_EQ(e.GetStatus(), http::Status::unprocessable_entity);
        EXPECT_EQ(e.ExtraMembers(),
                  R"("errors":[{"field":"items[0].product_id","problem":"is not a UUID"},)"
                  R"({"field":"items[1]","problem":"needs product_id (a UUID) and quantity )"
                  R"((1 to 1000), nothing else"},{"field":"x","problem":"is not a known field"}])");
    }
}

Order SomeOrder() {
    Order order;
    order.id = "0190a5a4-0000-7000-8000-000000000001";
    order.status = "PENDING";
    order.items = {OrderLine{kMug, 2, 600}};
    return order;
}

http::Status StatusOf(const Placement& placement) {
    try {
        return PlacementResponse(placement).result();
    } catch (const http::HttpError& e) {
        return e.GetStatus();
    }
}

TEST(OrdersRoutes, PlacementOutcomesMapToStatuses) {
    const auto placed = PlacementResponse(Placement{PlaceOutcome::kPlaced, SomeOrder()});
    EXPECT_EQ(placed.result(), http::Status::created);
    EXPECT_EQ(placed[http::beast_http::field::location],
              "/api/orders/0190a5a4-0000-7000-8000-000000000001");
    EXPECT_EQ(placed.count("Idempotent-Replayed"), 0u);
    const auto replayed = PlacementResponse(Placement{PlaceOutcome::kReplayed, SomeOrder()});
    EXPECT_EQ(replayed.result(), http::Status::ok);
    EXPECT_EQ(replayed["Idempotent-Replayed"], "true");
    EXPECT_EQ(replayed.body(), placed.body());
    EXPECT_EQ(StatusOf(Placement{PlaceOutcome::kKeyReused, std::nullopt}), http::Status::conflict);
    EXPECT_EQ(StatusOf(Placement{PlaceOutcome::kKeyInProgress, std::nullopt}),
              http::Status::conflict);
    try {
        PlacementResponse(Placement{PlaceOutcome::kKeyReused, std::nullopt});
    } catch (const http::HttpError& e) {
        EXPECT_EQ(e.Detail(), "this Idempotency-Key was already used with a different order body");
    }
}

}  // namespace
}  // namespace keel::orders
