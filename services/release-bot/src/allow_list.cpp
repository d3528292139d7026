#include "allow_list.hpp"

#include <charconv>

namespace keel::release_bot {
namespace {

std::string_view Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

std::optional<AllowList> AllowList::Parse(std::string_view text, std::string* error) {
    std::set<std::int64_t> chats;
    while (!Trim(text).empty()) {
        const auto comma = text.find(',');
        const auto item = Trim(text.substr(0, comma));
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
        std::int64_t id = 0;
        const std::string digits(item);
        const char* end = digits.c_str() + digits.size();
        const auto parsed = std::from_chars(digits.c_str(), end, id);
        if (digits.empty() || parsed.ec != std::errc() || parsed.ptr != end || id == 0) {
            if (error) *error = "not a chat id: '" + std::string(item.substr(0, 32)) + "'";
            return std::nullopt;
        }
        chats.insert(id);
    }
    return AllowList(std::move(chats));
}

}  // namespace keel::release_bot
