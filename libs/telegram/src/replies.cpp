#include <keel/telegram/replies.hpp>

#include <algorithm>
#include <charconv>

#include <boost/json/parse.hpp>

#include "reply_json.hpp"

namespace keel::telegram {
namespace {

namespace json = boost::json;

constexpr std::chrono::seconds kDefaultRetryAfter{1};

std::chrono::seconds RetryAfter(const json::object* reply, std::string_view header) {
    if (auto seconds = IntMember(ObjectMember(reply, "parameters"), "retry_after");
        seconds && *seconds >= 0)
        return std::chrono::seconds(*seconds);
    std::int64_t seconds = 0;
    auto [ptr, ec] = std::from_chars(header.data(), header.data() + header.size(), seconds);
    if (ec == std::errc{} && ptr == header.data() + header.size() && seconds >= 0)
        return std::chrono::seconds(seconds);
    return kDefaultRetryAfter;
}

std::string StringMember(const json::object* object, std::string_view key) {
    if (!object) return {};
    const auto* value = object->if_contains(key);
    if (!value || !value->is_string()) return {};
    return std::string(value->as_string());
}

std::optional<Message> ReadMessage(const json::object* message) {
    const json::object* chat = ObjectMember(message, "chat");
    const auto chat_id = IntMember(chat, "id");
    if (!chat_id) return std::nullopt;
    Message out;
    out.message_id = IntMember(message, "message_id").value_or(0);
    out.chat_id = *chat_id;
    out.chat_type = StringMember(chat, "type");
    out.message_thread_id = IntMember(message, "message_thread_id");
    const json::object* from = ObjectMember(message, "from");
    out.from_id = IntMember(from, "id");
    out.from_username = StringMember(from, "username");
    out.text = StringMember(message, "text");
    return out;
}

}  // namespace

SendOutcome ClassifySendMessageReply(unsigned status, std::string_view body,
                                     std::string_view retry_after_header) {
    using Kind = SendOutcome::Kind;
    boost::system::error_code ec;
    const json::value parsed = json::parse(body, ec);
    const json::object* reply = !ec && parsed.is_object() ? &parsed.as_object() : nullptr;
    SendOutcome out;
    if (status == 200) {
        // Telegram has the message; a body we cannot read does not make it unsent.
        out.kind = Kind::kSent;
        out.message_id = IntMember(ObjectMember(reply, "result"), "message_id");
        return out;
    }
    out.error = ErrorText(status, reply, body);
    if (status == 429) {
        out.kind = Kind::kRetryAfter;
        out.retry_after = RetryAfter(reply, retry_after_header);
    } else if (status == 400 || status == 403) {
        out.kind = Kind::kRejected;
    } else {
        // 5xx, and 401/404 (a wrong token or base: configuration, not this message).
        out.kind = Kind::kTransient;
    }
    return out;
}

UpdatesOutcome ParseGetUpdatesReply(unsigned status, std::string_view body,
                                    std::string_view retry_after_header) {
    using Kind = UpdatesOutcome::Kind;
    boost::system::error_code ec;
    const json::value parsed = json::parse(body, ec);
    const json::object* reply = !ec && parsed.is_object() ? &parsed.as_object() : nullptr;
    UpdatesOutcome out;
    if (status != 200) {
        out.error = ErrorText(status, reply, body);
        if (status == 429) {
            out.kind = Kind::kRetryAfter;
            out.retry_after = RetryAfter(reply, retry_after_header);
        } else if (status == 409) {
            out.kind = Kind::kConflict;
        } else if (status == 401 || status == 404) {
            out.kind = Kind::kRejected;
        }
        return out;
    }
    const json::value* result = reply ? reply->if_contains("result") : nullptr;
    if (!result || !result->is_array()) {
        out.error = ErrorText(status, nullptr, body.empty() ? "empty body" : body);
        return out;
    }
    for (const auto& item : result->as_array()) {
        const json::object* update = item.if_object();
        const auto update_id = IntMember(update, "update_id");
        if (!update_id) continue;  // nothing to confirm or read
        Update u;
        u.update_id = *update_id;
        u.message = ReadMessage(ObjectMember(update, "message"));
        out.updates.push_back(std::move(u));
    }
    std::sort(out.updates.begin(), out.updates.end(),
              [](const Update& a, const Update& b) { return a.update_id < b.update_id; });
    out.kind = Kind::kOk;
    return out;
}

std::int64_t NextOffset(const std::vector<Update>& updates, std::int64_t current) {
    for (const auto& u : updates) current = std::max(current, u.update_id + 1);
    return current;
}

}  // namespace keel::telegram
