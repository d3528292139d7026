#include "telegram.hpp"

#include <charconv>

#include <boost/json/parse.hpp>

#include <keel/http/json_body.hpp>
#include <keel/resilience/rejected.hpp>

namespace keel::notifications {
namespace {

namespace json = boost::json;
using Kind = SendOutcome::Kind;

constexpr std::chrono::seconds kDefaultRetryAfter{1};
constexpr std::size_t kMaxErrorText = 300;

std::optional<std::int64_t> IntMember(const json::object* object, std::string_view key) {
    if (!object) return std::nullopt;
    const auto* value = object->if_contains(key);
    if (!value || !value->is_number()) return std::nullopt;
    boost::system::error_code ec;
    const auto number = value->to_number<std::int64_t>(ec);
    if (ec) return std::nullopt;
    return number;
}

std::chrono::seconds RetryAfter(const json::object* reply, std::string_view header) {
    const json::object* parameters = nullptr;
    if (reply) {
        if (const auto* p = reply->if_contains("parameters"); p && p->is_object())
            parameters = &p->as_object();
    }
    if (auto seconds = IntMember(parameters, "retry_after"); seconds && *seconds >= 0)
        return std::chrono::seconds(*seconds);
    std::int64_t seconds = 0;
    auto [ptr, ec] = std::from_chars(header.data(), header.data() + header.size(), seconds);
    if (ec == std::errc{} && ptr == header.data() + header.size() && seconds >= 0)
        return std::chrono::seconds(seconds);
    return kDefaultRetryAfter;
}

std::string ErrorText(unsigned status, const json::object* reply, std::string_view body) {
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

}  // namespace

SendOutcome ClassifySendMessageReply(unsigned status, std::string_view body,
                                     std::string_view retry_after_header) {
    boost::system::error_code ec;
    const json::value parsed = json::parse(body, ec);
    const json::object* reply = !ec && parsed.is_object() ? &parsed.as_object() : nullptr;
    SendOutcome out;
    if (status == 200) {
        // Telegram has the message; a body we cannot read does not make it unsent.
        out.kind = Kind::kSent;
        const json::object* result = nullptr;
        if (reply) {
            if (const auto* r = reply->if_contains("result"); r && r->is_object())
                result = &r->as_object();
        }
        out.message_id = IntMember(result, "message_id");
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

resilience::DownstreamOptions TelegramDownstreamOptions(const TelegramSettings& settings) {
    resilience::DownstreamOptions options;
    options.name = "telegram";
    options.timeout = settings.deadline;
    // A probe is a real sendMessage: cut short, a message Telegram did deliver would be
    // taken for a failure and sent again.
    options.probe_timeout = settings.deadline;
    options.retry.max_attempts = 1;
    return options;
}

TelegramClient::TelegramClient(std::shared_ptr<resilience::Downstream> telegram,
                               TelegramSettings settings)
    : telegram_(std::move(telegram)), settings_(std::move(settings)) {
    while (!settings_.api_base.empty() && settings_.api_base.back() == '/')
        settings_.api_base.pop_back();
    url_ = settings_.api_base + "/bot" + settings_.bot_token + "/sendMessage";
}

bool TelegramClient::NeedsProxy() const { return settings_.api_base.starts_with("https://"); }

std::string TelegramClient::Redact(std::string text) const {
    const auto& token = settings_.bot_token;
    if (token.empty()) return text;
    for (auto at = text.find(token); at != std::string::npos; at = text.find(token, at))
        text.replace(at, token.size(), "<token>");
    return text;
}

Task<SendOutcome> TelegramClient::SendMessage(std::int64_t chat_id, const std::string& text) {
    const json::value request = json::object{{"chat_id", chat_id}, {"text", text}};
    std::vector<std::pair<std::string, std::string>> headers;
    headers.emplace_back("Content-Type", "application/json");
    resilience::Downstream::Call call;
    call.method = http::Verb::post;
    call.url = url_;
    call.headers = std::move(headers);
    call.body = http::ToJson(request);
    SendOutcome out;
    std::string failure;
    try {
        auto response = co_await telegram_->Send(std::move(call));
        out = ClassifySendMessageReply(response.result_int(), response.body(),
                                       response[http::beast_http::field::retry_after]);
    } catch (const resilience::Rejected& e) {
        out.kind = Kind::kRetryAfter;
        out.retry_after = e.RetryAfter();
        out.error = e.what();
    } catch (const http::ClientError& e) {
        failure = e.what();
    }
    if (!failure.empty()) {
        out.kind = Kind::kTransient;
        out.error = Redact(std::move(failure)).substr(0, kMaxErrorText);
    }
    out.error = Redact(std::move(out.error));
    co_return out;
}

std::vector<std::string> CheckTelegramSettings(const TelegramSettings& settings) {
    std::vector<std::string> problems;
    const auto& base = settings.api_base;
    if (!base.starts_with("http://") && !base.starts_with("https://"))
        problems.push_back("TELEGRAM_API_BASE='" + base + "' is not an http:// or https:// URL");
    const bool token_ok =
        !settings.bot_token.empty() &&
        settings.bot_token.find_first_not_of(
            "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:_-") ==
            std::string::npos;
    // Never echo the token itself.
    if (!token_ok)
        problems.push_back("TELEGRAM_BOT_TOKEN may hold only letters, digits, ':', '_' and '-'");
    return problems;
}

}  // namespace keel::notifications
