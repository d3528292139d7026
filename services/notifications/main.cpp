// notifications: tells users about their orders and receipts in Telegram; delivery log.
#include <keel/core/log.hpp>
#include <keel/service/app.hpp>

#include "link_wiring.hpp"
#include "migrations.hpp"
#include "routes.hpp"
#include "sender.hpp"
#include "settings.hpp"

namespace nt = keel::notifications;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "notifications");
    const auto settings = nt::ReadSettings(config);
    config.Finish();
    nt::ThrowOnProblems(settings);

    keel::service::App app(std::move(common));
    app.Migrate(nt::Migrations());
    nt::SubscribeConsumers(*app.Bus());
    app.StartBus();

    auto telegram = std::make_shared<keel::telegram::Client>(
        app.Downstream(keel::telegram::DownstreamOptions(settings.telegram)), app.HttpClient(),
        settings.telegram);
    if (telegram->NeedsProxy()) {
        keel::log::Warn(
            "TELEGRAM_API_BASE is https, which the service's HTTP client cannot reach: set it to "
            "an http proxy of the Bot API; until then deliveries stay pending",
            {{"telegram_api_base", settings.telegram.api_base}});
    } else {
        auto sender = std::make_shared<nt::DeliverySender>(app.Pg(), telegram, settings.sender);
        app.Every(std::chrono::milliseconds(100), [sender] { return sender->Tick(); });
        nt::StartLinkPolling(app, settings, telegram);
    }

    auto ctx = std::make_shared<nt::NotificationsContext>();
    ctx->log = std::make_shared<nt::DeliveryLog>(app.Pg());
    auto authenticator = app.TokenAuthenticator(settings.tokens);
    return app.Serve(nt::MakeRouter(ctx), authenticator);
}

int main(int argc, char** argv) { return keel::service::RunMain(argc, argv, "notifications", Run); }
