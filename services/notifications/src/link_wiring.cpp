#include "link_wiring.hpp"

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

#include "account_links.hpp"
#include "link_poller.hpp"
#include "poll_lease.hpp"

namespace keel::notifications {

void StartLinkPolling(service::App& app, const Settings& settings,
                      std::shared_ptr<telegram::Client> telegram) {
    if (settings.account_url.empty()) {
        log::Warn("ACCOUNT_URL is not set: the bot does not poll, so users cannot link chats");
        return;
    }
    auto account =
        std::make_shared<AccountLinks>(app.Downstream(AccountDownstreamOptions()),
                                       settings.account_url, app.Settings().service_token);
    // Unique per process: replicas in containers can share an INSTANCE_ID (their pid is 1).
    auto lease = std::make_shared<PollLease>(
        app.Pg(), "user-bot", app.Settings().instance_id + "/" + Uuid::V7().ToString(),
        settings.poll.lease);
    ClaimLink claim = [account](std::string token, std::int64_t chat, std::int64_t update) {
        return account->Claim(std::move(token), chat, update);
    };
    auto poller = std::make_shared<LinkPoller>(lease, telegram, claim, settings.poll);
    app.Every(std::chrono::milliseconds(250), [poller] { return poller->Tick(); });
    app.GetRuntime().OnShutdown([poller] { return poller->Stop(); });
}

}  // namespace keel::notifications
