// orders: places orders (idempotently) and follows them through the checkout saga.
#include <keel/service/app.hpp>

#include "routes.hpp"

namespace keel::orders {
std::span<const pg::Migration> Migrations();
}
namespace ord = keel::orders;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "orders");
    const auto tokens = keel::service::ReadTokenSettings(config);
    const auto catalog_url = config.String("CATALOG_URL");
    const auto catalog_deadline =
        std::chrono::milliseconds(config.Int("CATALOG_DEADLINE_MS", 2000, 50, 60'000));
    config.Finish();

    keel::service::App app(std::move(common));
    app.Migrate(ord::Migrations());
    auto ctx = std::make_shared<ord::OrdersContext>();
    ctx->bus = app.Bus();
    ctx->store = std::make_shared<ord::OrderStore>(app.Pg(), app.Bus());
    ctx->catalog = std::make_shared<ord::CatalogClient>(
        app.HttpClient(), catalog_url, app.Settings().service_token, catalog_deadline);
    ord::SubscribeSaga(*app.Bus(), ctx->store);
    app.StartBus();
    auto authenticator = app.TokenAuthenticator(tokens);
    return app.Serve(ord::MakeRouter(ctx), authenticator);
}

int main() { return keel::service::RunMain("orders", Run); }
