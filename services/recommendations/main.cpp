// recommendations: co-purchase counts learned from confirmed orders; related products.
#include <keel/service/app.hpp>

#include "co_purchases.hpp"
#include "migrations.hpp"
#include "routes.hpp"

namespace rec = keel::recommendations;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "recommendations");
    config.Finish();

    keel::service::App app(std::move(common));
    app.Migrate(rec::Migrations());
    auto ctx = std::make_shared<rec::RecommendationsContext>();
    ctx->store = std::make_shared<rec::CoPurchaseStore>(app.Pg());
    auto bus = app.Bus();
    bus->Subscribe("orders.order_confirmed.v1", rec::CountCoPurchases());
    app.StartBus();
    // Only public routes: no access tokens to verify.
    return app.Serve(rec::MakeRouter(ctx), nullptr);
}

int main(int argc, char** argv) {
    return keel::service::RunMain(argc, argv, "recommendations", Run);
}
