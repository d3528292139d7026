// payments: wallets and a double-entry ledger; captures the orders whose stock is reserved.
#include <algorithm>

#include <keel/service/app.hpp>

#include "capture.hpp"
#include "routes.hpp"

namespace keel::payments {
std::span<const pg::Migration> Migrations();
}
namespace pay = keel::payments;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "payments");
    const auto tokens = keel::service::ReadTokenSettings(config);
    const auto currency = config.String("PAYMENTS_CURRENCY", "USD");
    config.Finish();
    if (currency.size() != 3 || !std::all_of(currency.begin(), currency.end(),
                                             [](char c) { return c >= 'A' && c <= 'Z'; })) {
        throw keel::core::ConfigError(
            {"PAYMENTS_CURRENCY='" + currency + "' is not an ISO 4217 code such as USD"});
    }

    keel::service::App app(std::move(common));
    app.Migrate(pay::Migrations());
    auto ctx = std::make_shared<pay::PaymentsContext>();
    ctx->wallets = std::make_shared<pay::WalletStore>(app.Pg(), currency);
    auto bus = app.Bus();
    bus->Publishes("payments.payment_captured.v1");
    bus->Publishes("payments.payment_declined.v1");
    bus->Subscribe("catalog.stock_reserved.v1", pay::CaptureHandler(*bus, currency));
    app.StartBus();
    auto authenticator = app.TokenAuthenticator(tokens);
    return app.Serve(pay::MakeRouter(ctx), authenticator);
}

int main() { return keel::service::RunMain("payments", Run); }
