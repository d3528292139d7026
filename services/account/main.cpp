// account: profiles made from auth's registrations; display name and linked Telegram chat
// (linked by proving it: a one-time deep link that notifications' bot hands back).
#include <keel/service/app.hpp>

#include "migrations.hpp"
#include "routes.hpp"

namespace acc = keel::account;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "account");
    const auto tokens = keel::service::ReadTokenSettings(config);
    const auto link_settings = acc::ReadLinkSettings(config);
    config.Finish();

    keel::service::App app(std::move(common));
    app.Migrate(acc::Migrations());
    auto ctx = std::make_shared<acc::AccountContext>();
    ctx->bus = app.Bus();
    ctx->profiles = std::make_shared<acc::ProfileStore>(app.Pg(), app.Bus());
    ctx->links = std::make_shared<acc::TelegramLinkStore>(app.Pg(), app.Bus(), ctx->profiles,
                                                          link_settings.ttl);
    ctx->link_settings = link_settings;
    ctx->bus->Publishes(acc::kProfileUpdated);
    keel::bus::EventHandler on_registered = [profiles = ctx->profiles](keel::pg::Connection& c,
                                                                       const keel::bus::Event& e) {
        return profiles->CreateFromRegistration(c, e);
    };
    ctx->bus->Subscribe(acc::kUserRegistered, on_registered);
    app.StartBus();
    auto authenticator = app.TokenAuthenticator(tokens);
    return app.Serve(acc::MakeRouter(ctx), authenticator);
}

int main(int argc, char** argv) { return keel::service::RunMain(argc, argv, "account", Run); }
