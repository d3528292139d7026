// orders: places orders (idempotently) and follows them through the checkout saga.
#include <keel/service/app.hpp>

#include "catalog_client.hpp"
#include "migrations.hpp"
#include "order_metrics.hpp"
#include "order_store.hpp"
#include "pending_sweeper.hpp"
#include "routes.hpp"
#include "saga.hpp"
#include "settings.hpp"

namespace ord = keel::orders;

static int Run(keel::core::EnvConfig& config) {
    auto settings = ord::ReadSettings(config);
    keel::service::App app(std::move(settings.common));
    app.Migrate(ord::Migrations());
    ord::RegisterOrderMetrics();

    auto ctx = std::make_shared<ord::OrdersContext>();
    ctx->bus = app.Bus();
    ctx->store = std::make_shared<ord::OrderStore>(app.Pg(), app.Bus());
    keel::resilience::DownstreamOptions catalog;
    catalog.name = "catalog";
    catalog.timeout = settings.catalog.deadline;
    // Orders wait for catalog to come back; probe it soon (a probe costs one order's 503).
    catalog.breaker.open_for = std::chrono::seconds(2);
    catalog.breaker.max_open_for = std::chrono::seconds(10);
    catalog.breaker.half_open_probes = 1;
    ctx->catalog = std::make_shared<ord::CatalogClient>(app.Downstream(std::move(catalog)),
                                                        settings.catalog.base_url,
                                                        app.Settings().service_token);
    ord::SubscribeSaga(*app.Bus(), ctx->store);
    app.StartBus();
    app.Every(settings.pending.sweep_interval,
              ord::PendingSweeper(ctx->store, settings.pending.timeout));
    auto authenticator = app.TokenAuthenticator(settings.tokens);
    return app.Serve(ord::MakeRouter(ctx), authenticator);
}

int main(int argc, char** argv) { return keel::service::RunMain(argc, argv, "orders", Run); }
