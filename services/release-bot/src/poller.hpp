#pragma once
#include <atomic>
#include <chrono>
#include <memory>

#include <keel/core/asio.hpp>
#include <keel/telegram/client.hpp>

#include "audit_store.hpp"
#include "bot.hpp"
#include "lease.hpp"

namespace keel::release_bot {

/// Reads the ops bot's updates by long polling getUpdates, while this replica holds the lease
/// (Telegram allows one poller per bot: a second gets 409). Each message is handed to the Bot
/// in a coroutine of its own, so a release in progress does not hold up /status; its update is
/// confirmed by the next getUpdates at once, so a replica that dies mid-release does not make
/// the next one start it again (the audit row it left is marked interrupted).
class Poller final {
public:
    Poller(std::shared_ptr<telegram::Client> telegram, std::shared_ptr<Bot> bot,
           std::shared_ptr<AdvisoryLease> lease, std::shared_ptr<AuditStore> audit,
           std::chrono::seconds long_poll);

    /// Takes the lease when it is free and polls until it is lost; returns at once when another
    /// replica holds it. Run it again and again (App::Every).
    Task<void> RunWhileLeader();
    bool Leader() const { return leader_.load(); }

private:
    Task<void> PollOnce(std::int64_t& offset);

    std::shared_ptr<telegram::Client> telegram_;
    std::shared_ptr<Bot> bot_;
    std::shared_ptr<AdvisoryLease> lease_;
    std::shared_ptr<AuditStore> audit_;
    std::chrono::seconds long_poll_;
    std::atomic<bool> leader_{false};
};

}  // namespace keel::release_bot
