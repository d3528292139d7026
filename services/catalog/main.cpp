// catalog: products, prices and stock; cached reads; admin writes; stock reservations
// of the checkout saga.
#include <keel/service/app.hpp>

#include "migrations.hpp"
#include "routes.hpp"
#include "settings.hpp"
#include "stock_events.hpp"

namespace cat = keel::catalog;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "catalog");
    const auto settings = cat::ReadSettings(config);
    config.Finish();
    const auto& local = settings.local_cache;
    keel::redis::ClientOptions redis;
    redis.host = common.redis_host;
    redis.port = common.redis_port;
    redis.password = common.redis_password;

    keel::service::App app(std::move(common));
    app.Migrate(cat::Migrations());
    auto ctx = std::make_shared<cat::CatalogContext>();
    ctx->store = std::make_shared<cat::ProductStore>(app.Pg());
    ctx->cache = std::make_shared<cat::ProductCache>(app.Redis(), settings.cache_ttl, local);
    if (local.max_entries > 0) {
        ctx->cache->Listen(app.GetRuntime().Executor(), redis);
        app.GetRuntime().OnShutdown([cache = ctx->cache]() -> keel::Task<void> {
            cache->Stop();
            co_return;
        });
    }
    auto bus = app.Bus();
    bus->Publishes("catalog.stock_reserved.v1");
    bus->Publishes("catalog.stock_rejected.v1");
    ctx->reservations = std::make_shared<cat::ReservationStore>(app.Pg(), bus);
    auto invalidator = std::make_shared<cat::CommittedStockInvalidator>(ctx->cache);
    bus->Subscribe("orders.order_placed.v1",
                   cat::ReserveStockOnOrderPlaced(ctx->reservations, invalidator));
    bus->Subscribe("orders.order_cancelled.v1",
                   cat::ReleaseStockOnOrderCancelled(ctx->reservations, invalidator));
    app.StartBus();
    auto authenticator = app.TokenAuthenticator(settings.tokens);
    return app.Serve(cat::MakeRouter(ctx), authenticator);
}

int main(int argc, char** argv) { return keel::service::RunMain(argc, argv, "catalog", Run); }
