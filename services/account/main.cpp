// account: profiles made from auth's registrations; display name and linked Telegram chat.
#include <keel/auth/jwt_authenticator.hpp>
#include <keel/service/app.hpp>

#include "routes.hpp"

namespace keel::account {
std::span<const pg::Migration> Migrations();
}
namespace acc = keel::account;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "account");
    const auto jwks_url = config.String("AUTH_JWKS_URL");
    keel::auth::VerifyOptions verify;
    verify.issuer = config.String("JWT_ISSUER", "keel-auth");
    verify.audience = config.String("JWT_AUDIENCE", "keel");
    config.Finish();

    keel::service::App app(std::move(common));
    app.Migrate(acc::Migrations());
    auto ctx = std::make_shared<acc::AccountContext>();
    ctx->bus = app.Bus();
    ctx->profiles = std::make_shared<acc::ProfileStore>(app.Pg(), app.Bus());
    ctx->bus->Publishes(acc::kProfileUpdated);
    keel::bus::EventHandler on_registered = [profiles = ctx->profiles](keel::pg::Connection& c,
                                                                       const keel::bus::Event& e) {
        return profiles->CreateFromRegistration(c, e);
    };
    ctx->bus->Subscribe(acc::kUserRegistered, on_registered);
    app.StartBus();
    // Keys are fetched on the first token with an unknown kid, and every 5 minutes.
    auto authenticator = std::make_shared<keel::auth::JwtAuthenticator>(
        keel::auth::FetchJwksOverHttp(app.HttpClient(), jwks_url), verify);
    app.Every(std::chrono::minutes(5), [authenticator] { return authenticator->Refresh(); });
    return app.Serve(acc::MakeRouter(ctx), authenticator);
}

int main() { return keel::service::RunMain("account", Run); }
