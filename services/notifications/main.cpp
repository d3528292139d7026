// notifications: tells users about their orders and receipts in Telegram; delivery log.
#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>
#include <keel/service/app.hpp>

#include "link_poller.hpp"
#include "migrations.hpp"
#include "routes.hpp"
#include "sender.hpp"
#include "settings.hpp"

namespace nt = keel::notifications;

// The bot's /start <token> handling (linking chats), when account can be reached.
static void StartLinkPoller(keel::service::App& app, const nt::Settings& settings,
                            std::shared_ptr<keel::telegram::Client> telegram) {
    if (settings.account_url.empty()) {
        keel::log::Warn(
            "ACCOUNT_URL is not set: the bot does not poll, so users cannot link chats");
        return;
    }
    auto account =
        std::make_shared<nt::AccountLinks>(app.Downstream(nt::AccountDownstreamOptions()),
                                           settings.account_url, app.Settings().service_token);
    // Unique per process: replicas in containers can share an INSTANCE_ID (their pid is 1).
    auto lease = std::make_shared<nt::PollLease>(
        app.Pg(), "user-bot", app.Settings().instance_id + "/" + keel::Uuid::V7().ToString(),
        settings.poll.lease);
    nt::ClaimLink claim = [account](std::string token, std::int64_t chat, std::int64_t update) {
        return account->Claim(std::move(token), chat, update);
    };
    auto poller = std::make_shared<nt::LinkPoller>(lease, telegram, claim, settings.poll);
    app.Every(std::chrono::milliseconds(250), [poller] { return poller->Tick(); });
    app.GetRuntime().OnShutdown([poller] { return poller->Stop(); });
}

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
        StartLinkPoller(app, settings, telegram);
    }

    auto ctx = std::make_shared<nt::NotificationsContext>();
    ctx->log = std::make_shared<nt::DeliveryLog>(app.Pg());
    auto authenticator = app.TokenAuthenticator(settings.tokens);
    return app.Serve(nt::MakeRouter(ctx), authenticator);
}

int main(int argc, char** argv) { return keel::service::RunMain(argc, argv, "notifications", Run); }
