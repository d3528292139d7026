#include "profile.hpp"

namespace keel::account {
namespace {

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The first `count` code points of valid UTF-8 `text`.
std::string_view Utf8Prefix(std::string_view text, std::size_t count) {
    std::size_t i = 0;
    for (std::size_t seen = 0; i < text.size(); ++i) {
        if (IsContinuation(static_cast<unsigned char>(text[i]))) continue;
        if (seen++ == count) break;
    }
    return text.substr(0, i);
}

// C0 controls, DEL and the C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F).
bool HasControlCharacters(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7F) return true;
        if (c == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F)
            return true;
    }
    return false;
}

}  // namespace

boost::json::object ToJsonObject(const Profile& p) {
    boost::json::object out{
        {"user_id", p.user_id}, {"email", p.email}, {"display_name", p.display_name}};
    if (p.telegram_chat_id)
        out["telegram_chat_id"] = *p.telegram_chat_id;
    else
        out["telegram_chat_id"] = nullptr;
    return out;
}

boost::json::object ToEventPayload(const Profile& p) {
    auto out = ToJsonObject(p);
    out["updated_at"] = p.updated_at_ms;
    return out;
}

std::string_view TrimSpaces(std::string_view text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

std::string DisplayNameProblem(std::string_view name) {
    const auto length = Utf8Length(name);
    if (length < 1 || length > kMaxDisplayName)
        return "must be 1 to 100 characters long (not only spaces)";
    if (HasControlCharacters(name)) return "must not contain control characters";
    return "";
}

std::string TelegramChatProblem(std::int64_t chat_id) {
    return chat_id == 0 ? "must not be 0" : "";
}

std::string DefaultDisplayName(std::string_view email) {
    const auto local = email.substr(0, email.find('@'));
    return std::string(Utf8Prefix(local.empty() ? email : local, kMaxDisplayName));
}

std::size_t Utf8Length(std::string_view text) {
    std::size_t n = 0;
    for (unsigned char c : text) n += IsContinuation(c) ? 0 : 1;
    return n;
}

}  // namespace keel::account
