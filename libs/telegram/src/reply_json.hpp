#pragma once
// Reading Bot API replies: members that may be missing or of the wrong type are absent.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace keel::telegram {

inline const boost::json::object* ObjectMember(const boost::json::object* object,
                                               std::string_view key) {
    if (!object) return nullptr;
    const auto* value = object->if_contains(key);
    return value ? value->if_object() : nullptr;
}

inline std::optional<std::int64_t> IntMember(const boost::json::object* object,
                                             std::string_view key) {
    if (!object) return std::nullopt;
    const auto* value = object->if_contains(key);
    if (!value || !value->is_number()) return std::nullopt;
    boost::system::error_code ec;
    const auto number = value->to_number<std::int64_t>(ec);
    if (ec) return std::nullopt;
    return number;
}

constexpr std::size_t kMaxErrorText = 300;

/// "HTTP 400: <description>" or "HTTP 502: <start of the body>", at most kMaxErrorText.
inline std::string ErrorText(unsigned status, const boost::json::object* reply,
                             std::string_view body) {
    std::string text = "HTTP " + std::to_string(status);
    if (reply) {
        if (const auto* d = reply->if_contains("description"); d && d->is_string()) {
            text += ": ";
            text += d->as_string();
        }
    } else if (!body.empty()) {
        text += ": ";
        text += body.substr(0, kMaxErrorText);
    }
    return text.substr(0, kMaxErrorText);
}

}  // namespace keel::telegram
