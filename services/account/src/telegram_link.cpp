#include "telegram_link.hpp"

#include <keel/auth/crypto.hpp>
#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

namespace keel::account {
namespace {

constexpr std::size_t kTokenBytes = 32;
constexpr std::size_t kTokenLength = 43;  // base64url of 32 bytes, no padding

}  // namespace

std::string_view ClaimOutcomeName(ClaimOutcome outcome) {
    switch (outcome) {
        case ClaimOutcome::kLinked:
            return "linked";
        case ClaimOutcome::kUnknown:
            return "unknown";
        case ClaimOutcome::kExpired:
            return "expired";
        case ClaimOutcome::kUsed:
            return "used";
    }
    return "unknown";
}

std::string LinkTokenHash(std::string_view token) { return auth::Sha256Hex(token); }

bool LooksLikeLinkToken(std::string_view text) {
    return text.size() == kTokenLength &&
           text.find_first_not_of(
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
               std::string_view::npos;
}

// One row per user: a new link overwrites the old one, used or not.
constexpr std::string_view kIssueSql = R"(
INSERT INTO telegram_links (user_id, token_hash, expires_at)
SELECT user_id, $2, clock_timestamp() + $3::bigint * interval '1 second'
FROM profiles WHERE user_id = $1::uuid
ON CONFLICT (user_id) DO UPDATE
    SET token_hash = EXCLUDED.token_hash, expires_at = EXCLUDED.expires_at,
        created_at = now(), used_at = NULL, used_chat_id = NULL, used_update_id = NULL
RETURNING to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))";

Task<std::optional<IssuedLink>> TelegramLinkStore::Issue(std::string user_id) {
    if (!Uuid::Parse(user_id)) co_return std::nullopt;
    IssuedLink link;
    link.token = auth::RandomToken(kTokenBytes);
    auto rows = co_await pool_->Execute(kIssueSql, user_id, LinkTokenHash(link.token),
                                        static_cast<std::int64_t>(ttl_.count()));
    if (rows.Rows() == 0) co_return std::nullopt;
    link.expires_at = std::string(rows.Text(0, 0));
    co_return link;
}

// Locked so that two hand-overs of one token cannot both link.
constexpr std::string_view kFindSql = R"(
SELECT user_id::text, expires_at <= clock_timestamp(), used_at IS NOT NULL,
       used_chat_id, used_update_id
FROM telegram_links WHERE token_hash = $1 FOR UPDATE)";

constexpr std::string_view kUseSql = R"(
UPDATE telegram_links SET used_at = clock_timestamp(), used_chat_id = $2, used_update_id = $3
WHERE user_id = $1::uuid)";

Task<ClaimResult> TelegramLinkStore::Claim(std::string token, std::int64_t chat_id,
                                           std::int64_t update_id, bus::Origin origin) {
    ClaimResult result;
    if (!LooksLikeLinkToken(token) || !TelegramChatProblem(chat_id).empty()) co_return result;
    const std::string hash = LinkTokenHash(token);
    auto claim = [&](pg::Connection& c) -> Task<void> {
        auto rows = co_await c.Execute(kFindSql, hash);
        if (rows.Rows() == 0) co_return;  // kUnknown
        const std::string user_id(rows.Text(0, 0));
        if (rows.Bool(0, 2)) {
            const bool repeat =
                !rows.IsNull(0, 4) && rows.Int(0, 3) == chat_id && rows.Int(0, 4) == update_id;
            result.outcome = repeat ? ClaimOutcome::kLinked : ClaimOutcome::kUsed;
            if (repeat) result.user_id = user_id;
            co_return;
        }
        if (rows.Bool(0, 1)) {
            result.outcome = ClaimOutcome::kExpired;
            co_return;
        }
        co_await c.Execute(kUseSql, user_id, chat_id, update_id);
        ProfilePatch patch;
        patch.set_telegram_chat = true;
        patch.telegram_chat_id = chat_id;
        auto profile = co_await profiles_->UpdateIn(c, user_id, patch, origin);
        if (!profile) co_return;  // the profile is gone (and with it the link, by cascade)
        result.outcome = ClaimOutcome::kLinked;
        result.user_id = user_id;
    };
    co_await bus_->Transaction(claim);
    co_return result;
}

}  // namespace keel::account
