#include <gtest/gtest.h>

#include <keel/testing/coro_test.hpp>
#include <keel/testing/servers.hpp>

#include "catalog_client.hpp"

namespace keel::orders {
namespace {

TEST(CatalogPrices, ReadsCatalogsInternalAnswer) {
    const auto prices = ParseCatalogPrices(
        R"({"items":[{"id":"a","sku":"S","price_minor":1200,"currency":"USD","stock":3},
                     {"id":"b","price_minor":5,"currency":"EUR"}]})");
    EXPECT_EQ(prices.size(), 2u);
    EXPECT_EQ(prices.at("a").price_minor, 1200);
    EXPECT_EQ(prices.at("a").currency, "USD");
    EXPECT_EQ(prices.at("b").currency, "EUR");
    EXPECT_TRUE(ParseCatalogPrices(R"({"items":[]})").empty());
}

TEST(CatalogPrices, RefusesAnythingElse) {
    EXPECT_ANY_THROW(ParseCatalogPrices("not json"));
    EXPECT_ANY_THROW(ParseCatalogPrices(R"({"products":[]})"));
    EXPECT_ANY_THROW(ParseCatalogPrices(R"({"items":[{"id":"a","price_minor":"12"}]})"));
}

KEEL_CORO_TEST(CatalogClient, AnUnreachableCatalogIsA503) {
    auto client = std::make_shared<http::Client>(co_await asio::this_coro::executor);
    const auto url = "http://127.0.0.1:" + std::to_string(testing::FreePort());
    CatalogClient catalog(client, url, "token", std::chrono::milliseconds(500));
    std::vector<OrderLine> lines = {OrderLine{"00000000-0000-4000-8000-000000000001", 1}};
    std::optional<http::Status> status;
    try {
        co_await catalog.Price(std::move(lines));
    } catch (const http::HttpError& e) {
        status = e.GetStatus();
    }
    EXPECT_EQ(status, http::Status::service_unavailable);
}

}  // namespace
}  // namespace keel::orders
