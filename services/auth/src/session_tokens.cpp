#include "session_tokens.hpp"

#include <keel/core/uuid.hpp>

namespace keel::auth_service {
namespace {

std::int64_t NowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

SessionTokens MakeSessionTokens(const Settings& settings, const auth::SigningKey& key,
                                const std::string& user_id, const std::string& role,
                                std::string refresh_token) {
    auth::Claims claims;
    claims.subject = user_id;
    claims.role = role;
    claims.issuer = settings.issuer;
    claims.audience = settings.audience;
    claims.id = Uuid::V7().ToString();
    claims.issued_at = NowSeconds();
    claims.not_before = claims.issued_at;
    claims.expires_at = claims.issued_at + settings.access_ttl.count();
    return SessionTokens{auth::SignJwt(claims, key), std::move(refresh_token), settings.access_ttl};
}

}  // namespace keel::auth_service
