// payments: wallets and a double-entry ledger; captures the orders whose stock is reserved,
// refunds the captures of cancelled orders, tops wallets up through the payment provider.
#include <keel/core/log.hpp>
#include <keel/service/app.hpp>

#include "capture.hpp"
#include "migrations.hpp"
#include "refund.hpp"
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
    ctx->top_ups = std::make_shared<pay::TopUpStore>(app.Pg(), settings.currency);
    ctx->provider_secret = settings.provider_secret;
    if (settings.provider_secret.empty())
        keel::log::Warn("PAYMENT_PROVIDER_SECRET is not set: provider callbacks are refused");
    auto bus = app.Bus();
    bus->Publishes("payments.payment_captured.v1");
    bus->Publishes("payments.payment_declined.v1");
    bus->Publishes("payments.payment_refunded.v1");
    bus->Subscribe("catalog.stock_reserved.v1", pay::CaptureHandler(*bus, settings.currency));
    bus->Subscribe("orders.order_cancelled.v1", pay::RefundHandler(*bus));
    app.StartBus();
    auto authenticator = app.TokenAuthenticator(settings.tokens);
    return app.Serve(pay::MakeRouter(ctx), authenticator);
}

int main(int argc, char** argv) { return keel::service::RunMain(argc, argv, "payments", Run); }
