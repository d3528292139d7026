// payments: wallets and a double-entry ledger; captures the orders whose stock is reserved.
#include <keel/service/app.hpp>

#include "capture.hpp"
#include "migrations.hpp"
#include "routes.hpp"
#include "settings.hpp"

namespace pay = keel::payments;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "payments");
    const auto settings = pay::ReadSettings(config);
    config.Finish();
    pay::ThrowOnProblems(settings);

    keel::service::App app(std::move(common));
    app.Migrate(pay::Migrations());
    auto ctx = std::make_shared<pay::PaymentsContext>();
    ctx->wallets = std::make_shared<pay::WalletStore>(app.Pg(), settings.currency);
    auto bus = app.Bus();
    bus->Publishes("payments.payment_captured.v1");
    bus->Publishes("payments.payment_declined.v1");
    bus->Subscribe("catalog.stock_reserved.v1", pay::CaptureHandler(*bus, settings.currency));
    app.StartBus();
    auto authenticator = app.TokenAuthenticator(settings.tokens);
    return app.Serve(pay::MakeRouter(ctx), authenticator);
}

int main() { return keel::service::RunMain("payments", Run); }
