// alert-relay: Alertmanager's webhook to the ops chat in Telegram, one message per state change
// of an alert, deduplicated and throttled in Redis.
#include <keel/core/log.hpp>
#include <keel/service/app.hpp>
#include <keel/telemetry/metrics.hpp>

#include "ledger.hpp"
#include "ops_chat.hpp"
#include "relay.hpp"
#include "routes.hpp"
#include "settings.hpp"

namespace svc = keel::alert_relay;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "alert-relay");
    auto settings = svc::ReadSettings(config);
    config.Finish();

    keel::service::App app(std::move(common));
    auto telegram = std::make_shared<keel::telegram::Client>(
        app.Downstream(keel::telegram::DownstreamOptions(settings.telegram, "ops_telegram")),
        settings.telegram);
    if (telegram->NeedsProxy()) {
        keel::log::Warn(
            "TELEGRAM_API_BASE is https, which the service's HTTP client cannot reach: set it to "
            "an http proxy of the Bot API; until then every alert is answered 503 and retried",
            {{"telegram_api_base", settings.telegram.api_base}});
    }
    auto ledger = std::make_shared<svc::AlertLedger>(
        app.Redis(), settings.ledger, [] { return std::chrono::system_clock::now(); });
    auto relay =
        std::make_shared<svc::Relay>(ledger, svc::OpsChatSender(telegram, settings.chat_id),
                                     settings.relay, keel::telemetry::DefaultRegistry());
    // Only /internal routes (service token): no access tokens to verify.
    return app.Serve(svc::MakeRouter(relay), nullptr);
}

int main(int argc, char** argv) { return keel::service::RunMain(argc, argv, "alert-relay", Run); }
