#pragma once
#include <memory>

#include <keel/service/app.hpp>
#include <keel/telegram/client.hpp>

#include "settings.hpp"

namespace keel::notifications {

/// Starts the bot's /start <token> handling (linking chats) on `app`: a LinkPoller polled every
/// 250 ms while it holds the PostgreSQL lease, claims handed to account at ACCOUNT_URL, stopped
/// on shutdown. Without ACCOUNT_URL it only warns: users then cannot link chats.
void StartLinkPolling(service::App& app, const Settings& settings,
                      std::shared_ptr<telegram::Client> telegram);

}  // namespace keel::notifications
