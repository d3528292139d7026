// release-bot: releases and rollbacks by Telegram commands, through keel-stack's control socket.
#include <keel/core/log.hpp>
#include <keel/service/app.hpp>
#include <keel/telegram/client.hpp>

#include "migrations.hpp"
#include "poller.hpp"
#include "routes.hpp"
#include "settings.hpp"
#include "stack_control.hpp"
#include "wiring.hpp"

namespace rb = keel::release_bot;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "release-bot");
    auto settings = rb::ReadSettings(config);
    config.Finish();

    keel::service::App app(std::move(common));
    app.Migrate(rb::Migrations());
    auto telegram = std::make_shared<keel::telegram::Client>(
        app.Downstream(keel::telegram::DownstreamOptions(settings.telegram, "ops_telegram")),
        app.HttpClient(), settings.telegram);
    if (telegram->NeedsProxy()) {
        keel::log::Warn(
            "TELEGRAM_API_BASE is https, which the service's HTTP client cannot reach: set it to "
            "an http proxy of the Bot API; until then no command is read and nothing announced",
            {{"telegram_api_base", settings.telegram.api_base}});
    }
    auto audit = std::make_shared<rb::AuditStore>(app.Pg());
    auto bot = std::make_shared<rb::Bot>(
        rb::MakeBotOptions(settings), settings.allowed, audit,
        std::make_shared<rb::SocketStackControl>(settings.stack_socket),
        rb::TelegramSender(telegram), rb::VictoriaMetricsRates(app.HttpClient(), settings.vm_url));
    auto lease = std::make_shared<rb::AdvisoryLease>(
        app.Settings().pg_dsn, "release-bot:getUpdates", std::chrono::seconds(5));
    auto poller = std::make_shared<rb::Poller>(telegram, bot, lease, audit, settings.long_poll);
    app.Every(settings.lease_retry, [poller] { return poller->RunWhileLeader(); });
    return app.Serve(rb::MakeRouter(poller), nullptr);
}

int main(int argc, char** argv) { return keel::service::RunMain(argc, argv, "release-bot", Run); }
