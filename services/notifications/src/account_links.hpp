#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <keel/resilience/downstream.hpp>

namespace keel::notifications {

/// account's answer to a link token handed over.
struct LinkReply {
    enum class Kind {
        kLinked,   // the chat is linked
        kRefused,  // unknown, expired or used: tell the chat
        kFailed,   // account unreachable, 5xx, an answer we cannot read: try again later
    };
    Kind kind = Kind::kFailed;
    std::string outcome;  // account's word ("linked", "unknown", "expired", "used")
    std::string error;    // kFailed
};

/// Reads the body of account's POST /internal/telegram-links/claim answer.
LinkReply ParseLinkReply(unsigned status, std::string_view body);

/// Hands "/start <token>" over to account (POST {ACCOUNT_URL}/internal/telegram-links/claim,
/// service token) through the "account" Downstream. Safe to repeat: account answers the same
/// update the same way. Thread-safe; never throws (failures are kFailed).
class AccountLinks final {
public:
    AccountLinks(std::shared_ptr<resilience::Downstream> account, std::string base_url,
                 std::string service_token)
        : account_(std::move(account)),
          base_url_(std::move(base_url)),
          service_token_(std::move(service_token)) {}

    Task<LinkReply> Claim(std::string token, std::int64_t chat_id, std::int64_t update_id);

private:
    std::shared_ptr<resilience::Downstream> account_;
    std::string base_url_;
    std::string service_token_;
};

/// The policies for these calls: 3 s, retried (the claim is idempotent), named "account".
resilience::DownstreamOptions AccountDownstreamOptions();

}  // namespace keel::notifications
