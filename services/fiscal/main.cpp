// fiscal: a fiscal receipt for every captured payment, exactly once.
#include <keel/auth/jwt_authenticator.hpp>
#include <keel/service/app.hpp>

#include "receipt.hpp"
#include "routes.hpp"

namespace keel::fiscal {
std::span<const pg::Migration> Migrations();
}
namespace fis = keel::fiscal;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "fiscal");
    const auto jwks_url = config.String("AUTH_JWKS_URL");
    keel::auth::VerifyOptions verify;
    verify.issuer = config.String("JWT_ISSUER", "keel-auth");
    verify.audience = config.String("JWT_AUDIENCE", "keel");
    config.Finish();

    keel::service::App app(std::move(common));
    app.Migrate(fis::Migrations());
    auto ctx = std::make_shared<fis::FiscalContext>();
    ctx->receipts = std::make_shared<fis::ReceiptStore>(app.Pg());
    auto bus = app.Bus();
    bus->Publishes("fiscal.receipt_issued.v1");
    bus->Subscribe("payments.payment_captured.v1", fis::ReceiptHandler(*bus));
    app.StartBus();
    // Keys are fetched on the first token with an unknown kid, and every 5 minutes.
    auto authenticator = std::make_shared<keel::auth::JwtAuthenticator>(
        keel::auth::FetchJwksOverHttp(app.HttpClient(), jwks_url), verify);
    app.Every(std::chrono::minutes(5), [authenticator] { return authenticator->Refresh(); });
    return app.Serve(fis::MakeRouter(ctx), authenticator);
}

int main() { return keel::service::RunMain("fiscal", Run); }
