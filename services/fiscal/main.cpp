// fiscal: a fiscal receipt for every captured payment and for every refund, exactly once.
#include <keel/service/app.hpp>

#include "migrations.hpp"
#include "receipt.hpp"
#include "routes.hpp"

namespace fis = keel::fiscal;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "fiscal");
    const auto tokens = keel::service::ReadTokenSettings(config);
    config.Finish();

    keel::service::App app(std::move(common));
    app.Migrate(fis::Migrations());
    auto ctx = std::make_shared<fis::FiscalContext>();
    ctx->receipts = std::make_shared<fis::ReceiptStore>(app.Pg());
    auto bus = app.Bus();
    bus->Publishes("fiscal.receipt_issued.v1");
    bus->Subscribe("payments.payment_captured.v1", fis::ReceiptHandler(*bus));
    bus->Subscribe("payments.payment_refunded.v1", fis::RefundReceiptHandler());
    app.StartBus();
    auto authenticator = app.TokenAuthenticator(tokens);
    return app.Serve(fis::MakeRouter(ctx), authenticator);
}

int main(int argc, char** argv) { return keel::service::RunMain(argc, argv, "fiscal", Run); }
