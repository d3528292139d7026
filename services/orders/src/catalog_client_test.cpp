#include <gtest/gtest.h>

#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>

#include <keel/http/client.hpp>
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

std::shared_ptr<resilience::Downstream> CatalogDownstream(std::shared_ptr<http::Client> client,
                                                          telemetry::Registry& registry) {
    resilience::DownstreamOptions options;
    options.name = "catalog";
    options.timeout = std::chrono::milliseconds(300);
    options.breaker.consecutive_failures = 3;
    options.breaker.open_for = std::chrono::seconds(5);
    options.retry.max_attempts = 1;
    return std::make_shared<resilience::Downstream>(std::move(client), options, registry);
}

// Accepts connections and never answers, like a process stopped with SIGSTOP whose kernel
// still completes handshakes.
struct FrozenServer : std::enable_shared_from_this<FrozenServer> {
    asio::ip::tcp::acceptor acceptor;
    std::vector<asio::ip::tcp::socket> held;

    explicit FrozenServer(asio::any_io_executor ex)
        : acceptor(ex, {asio::ip::make_address("127.0.0.1"), 0}) {}
    static std::shared_ptr<FrozenServer> Start(asio::any_io_executor ex) {
        auto server = std::make_shared<FrozenServer>(ex);
        asio::co_spawn(ex, Hold(server), asio::detached);
        return server;
    }
    static Task<void> Hold(std::shared_ptr<FrozenServer> self) {
        boost::system::error_code ec;
        while (!ec) {
            auto socket =
                co_await self->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
            if (!ec) self->held.push_back(std::move(socket));
        }
    }
    std::string Url() const {
        return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    }
    void Stop() {
        boost::system::error_code ec;
        acceptor.close(ec);
    }
};

std::vector<OrderLine> OneLine() { return {OrderLine{"00000000-0000-4000-8000-000000000001", 1}}; }

http::SteadyTime In(std::chrono::milliseconds ms) { return std::chrono::steady_clock::now() + ms; }

KEEL_CORO_TEST(CatalogClient, AnUnreachableCatalogIsA503) {
    auto client = std::make_shared<http::Client>(co_await asio::this_coro::executor);
    telemetry::Registry registry;
    const auto url = "http://127.0.0.1:" + std::to_string(testing::FreePort());
    CatalogClient catalog(CatalogDownstream(client, registry), url, "token");
    std::optional<http::Status> status;
    try {
        co_await catalog.Price(OneLine(), In(std::chrono::milliseconds(2000)));
    } catch (const http::HttpError& e) {
        status = e.GetStatus();
    }
    EXPECT_EQ(status, http::Status::service_unavailable);
}

// A catalog that accepts connections and never answers (frozen): the first orders wait for
// the timeout, then the breaker opens and an order is refused in well under 50 ms, with the
// breaker's own Retry-After.
KEEL_CORO_TEST(CatalogClient, AFrozenCatalogOpensTheBreakerAndOrdersFailFast) {
    auto ex = co_await asio::this_coro::executor;
    auto frozen = FrozenServer::Start(ex);
    auto client = std::make_shared<http::Client>(ex);
    telemetry::Registry registry;
    const auto url = frozen->Url();
    CatalogClient catalog(CatalogDownstream(client, registry), url, "token");

    std::chrono::steady_clock::duration slowest_refusal{};
    std::chrono::seconds retry_after{0};
    int refused = 0;
    for (int i = 0; i < 10; ++i) {
        const auto started = std::chrono::steady_clock::now();
        std::optional<http::Status> status;
        try {
            co_await catalog.Price(OneLine(), In(std::chrono::milliseconds(2000)));
        } catch (const http::HttpError& e) {
            status = e.GetStatus();
            if (e.RetryAfter().count() > 0) {
                ++refused;
                retry_after = e.RetryAfter();
                slowest_refusal =
                    std::max(slowest_refusal, std::chrono::steady_clock::now() - started);
            }
        }
        EXPECT_EQ(status, http::Status::service_unavailable) << "order " << i;
    }
    EXPECT_EQ(refused, 7) << "3 timeouts open the breaker; the 7 orders after are refused";
    EXPECT_LT(slowest_refusal, std::chrono::milliseconds(50));
    EXPECT_GE(retry_after, std::chrono::seconds(1));
    EXPECT_LE(retry_after, std::chrono::seconds(5));
    EXPECT_NE(registry.Render().find(R"(keel_breaker_state{downstream="catalog"} 2)"),
              std::string::npos);
    frozen->Stop();
}

// The order request's own deadline bounds the call to catalog, whatever its timeout.
KEEL_CORO_TEST(CatalogClient, TheRequestsDeadlineBoundsTheCall) {
    auto ex = co_await asio::this_coro::executor;
    auto frozen = FrozenServer::Start(ex);
    auto client = std::make_shared<http::Client>(ex);
    telemetry::Registry registry;
    const auto url = frozen->Url();
    CatalogClient catalog(CatalogDownstream(client, registry), url, "token");
    const auto started = std::chrono::steady_clock::now();
    std::optional<http::Status> status;
    try {
        co_await catalog.Price(OneLine(), In(std::chrono::milliseconds(80)));
    } catch (const http::HttpError& e) {
        status = e.GetStatus();
    }
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(status, http::Status::service_unavailable);
    EXPECT_GE(took, std::chrono::milliseconds(70));
    EXPECT_LT(took, std::chrono::milliseconds(250)) << "the 300 ms timeout was used instead";
    frozen->Stop();
}

}  // namespace
}  // namespace keel::orders
