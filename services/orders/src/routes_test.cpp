#include <gtest/gtest.h>

#include <keel/testing/openapi.hpp>

#include "routes.hpp"

namespace keel::orders {
namespace {

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

TEST(OrderRequest, SameLinesInAnyOrderAreTheSameRequest) {
    const auto a = ReadOrderRequest(
        Post(R"({"items":[{"product_id":"00000000-0000-4000-8000-000000000001","quantity":2},
        {"product_id":"00000000-0000-4000-8000-000000000002","quantity":1}]})"));
    const auto b = ReadOrderRequest(
        Post(R"({"items":[{"product_id":"00000000-0000-4000-8000-000000000002","quantity":1},
        {"product_id":"00000000-0000-4000-8000-000000000001","quantity":2}]})"));
    const auto c = ReadOrderRequest(
        Post(R"({"items":[{"product_id":"00000000-0000-4000-8000-000000000002","quantity":2},
        {"product_id":"00000000-0000-4000-8000-000000000001","quantity":2}]})"));
    EXPECT_EQ(a.hash, b.hash);
    EXPECT_NE(a.hash, c.hash);
    EXPECT_EQ(a.items.front().product_id, "00000000-0000-4000-8000-000000000001");
}

TEST(OrderRequest, RefusesBadLinesNamingThem) {
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
            .find("twice"),
        std::string::npos);
    EXPECT_NE(
        Problem(
            R"({"items":[{"product_id":"00000000-0000-4000-8000-000000000001","quantity":1}],"coupon":"x"})")
            .find("coupon"),
        std::string::npos);
}

}  // namespace
}  // namespace keel::orders
