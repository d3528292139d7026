#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace keel::release_bot {

/// The chats whose commands the bot obeys (RELEASE_BOT_ALLOWED_CHATS). Every other chat gets a
/// refusal and changes nothing. Immutable, so thread-safe.
class AllowList final {
public:
    explicit AllowList(std::set<std::int64_t> chats) : chats_(std::move(chats)) {}

    /// "-1001234567890, 42": chat ids separated by commas (spaces allowed). nullopt when an item is
    /// not an integer; `error` then names it.
    static std::optional<AllowList> Parse(std::string_view text, std::string* error);

    bool Allows(std::int64_t chat_id) const { return chats_.count(chat_id) != 0; }
    const std::set<std::int64_t>& Chats() const { return chats_; }

private:
    std::set<std::int64_t> chats_;
};

}  // namespace keel::release_bot
