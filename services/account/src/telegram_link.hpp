#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

#include "profile_store.hpp"

namespace keel::account {

/// A link token just issued: the only time the token itself exists outside the user's hands.
struct IssuedLink {
    std::string token;       // 43 characters of base64url (256 random bits)
    std::string expires_at;  // RFC 3339, UTC, milliseconds
};

/// What became of handing a token over from Telegram.
enum class ClaimOutcome {
    kLinked,   // the chat is linked now (or was, by this very update: a repeat)
    kUnknown,  // no such token: guessed, malformed, or replaced by a newer link
    kExpired,  // too late
    kUsed,     // the token linked a chat already
};
std::string_view ClaimOutcomeName(ClaimOutcome outcome);  // "linked", "unknown", ...

struct ClaimResult {
    ClaimOutcome outcome = ClaimOutcome::kUnknown;
    std::string user_id;  // kLinked
};

/// The SHA-256 (hex) under which a token is stored.
std::string LinkTokenHash(std::string_view token);
/// True when `text` has the shape of an issued token (so other text needs no lookup).
bool LooksLikeLinkToken(std::string_view text);

/// One-time Telegram deep links (table telegram_links). A user has at most one link: issuing a
/// new one replaces the old. A link expires `ttl` after it was issued (database time) and links
/// one chat once. Thread-safe.
class TelegramLinkStore final {
public:
    TelegramLinkStore(std::shared_ptr<pg::Pool> pool, std::shared_ptr<bus::Bus> bus,
                      std::shared_ptr<ProfileStore> profiles, std::chrono::seconds ttl)
        : pool_(std::move(pool)), bus_(std::move(bus)), profiles_(std::move(profiles)), ttl_(ttl) {}

    /// A new link for `user_id`; nullopt when the user has no profile (yet).
    Task<std::optional<IssuedLink>> Issue(std::string user_id);

    /// The bot saw "/start <token>" in private chat `chat_id`, in its update `update_id`. Sets
    /// the profile's telegram_chat_id (and emits account.profile_updated.v1) in the same
    /// transaction that uses the token up. The same update handed over again (its answer was
    /// lost) is kLinked again without a second change; any other use of a used token is kUsed.
    Task<ClaimResult> Claim(std::string token, std::int64_t chat_id, std::int64_t update_id,
                            bus::Origin origin);

private:
    std::shared_ptr<pg::Pool> pool_;
    std::shared_ptr<bus::Bus> bus_;
    std::shared_ptr<ProfileStore> profiles_;
    std::chrono::seconds ttl_;
};

}  // namespace keel::account
