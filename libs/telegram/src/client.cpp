#include <keel/telegram/client.hpp>

#include <algorithm>

#include <boost/json/array.hpp>

#include <keel/http/client.hpp>
#include <keel/http/json_body.hpp>
#include <keel/resilience/rejected.hpp>

#include "reply_json.hpp"

namespace keel::telegram {
namespace {

namespace json = boost::json;

std::vector<std::pair<std::string, std::string>> JsonHeaders() {
    std::vector<std::pair<std::string, std::string>> headers;
    headers.emplace_back("Content-Type", "application/json");
    return headers;
}

std::string SendMessageBody(std::int64_t chat_id, const std::string& text,
                            const SendOptions& options) {
    json::object request{{"chat_id", chat_id}, {"text", text}};
    if (!options.parse_mode.empty()) request["parse_mode"] = options.parse_mode;
    if (options.message_thread_id) request["message_thread_id"] = *options.message_thread_id;
    if (options.disable_notification) request["disable_notification"] = true;
    return http::ToJson(json::value(std::move(request)));
}

}  // namespace

Client::Client(std::shared_ptr<resilience::Downstream> send, std::shared_ptr<http::Client> poll,
               Settings settings)
    : send_(std::move(send)), poll_(std::move(poll)), settings_(std::move(settings)) {
    while (!settings_.api_base.empty() && settings_.api_base.back() == '/')
        settings_.api_base.pop_back();
    base_ = settings_.api_base + "/bot" + settings_.bot_token;
}

bool Client::NeedsProxy() const { return settings_.api_base.starts_with("https://"); }

std::string Client::Redact(std::string text) const {
    const auto& token = settings_.bot_token;
    if (token.empty()) return text;
    for (auto at = text.find(token); at != std::string::npos; at = text.find(token, at))
        text.replace(at, token.size(), "<token>");
    return text;
}

Task<SendOutcome> Client::SendMessage(std::int64_t chat_id, std::string text, SendOptions options) {
    resilience::Downstream::Call call;
    call.method = http::Verb::post;
    call.url = base_ + "/sendMessage";
    call.headers = JsonHeaders();
    call.body = SendMessageBody(chat_id, text, options);
    SendOutcome out;
    std::string failure;
    try {
        auto response = co_await send_->Send(std::move(call));
        out = ClassifySendMessageReply(response.result_int(), response.body(),
                                       response[http::beast_http::field::retry_after]);
    } catch (const resilience::Rejected& e) {
        out.kind = SendOutcome::Kind::kRetryAfter;
        out.retry_after = e.RetryAfter();
        out.error = e.what();
    } catch (const http::ClientError& e) {
        failure = e.what();
    }
    if (!failure.empty()) {
        out.kind = SendOutcome::Kind::kTransient;
        out.error = Redact(std::move(failure)).substr(0, kMaxErrorText);
    }
    out.error = Redact(std::move(out.error));
    co_return out;
}

Task<UpdatesOutcome> Client::GetUpdates(std::int64_t offset, std::chrono::seconds long_poll_timeout,
                                        int limit) {
    UpdatesOutcome out;
    if (!poll_) {
        out.kind = UpdatesOutcome::Kind::kRejected;
        out.error = "no poll client: this telegram::Client only sends";
        co_return out;
    }
    long_poll_timeout = std::max(long_poll_timeout, std::chrono::seconds(0));
    const json::object request{{"offset", offset},
                               {"timeout", long_poll_timeout.count()},
                               {"limit", std::clamp(limit, 1, 100)},
                               {"allowed_updates", json::array{"message"}}};
    // The long poll may hang for its whole timeout; the deadline covers that plus the trip.
    const auto deadline = std::chrono::duration_cast<std::chrono::milliseconds>(long_poll_timeout) +
                          settings_.deadline;
    // Named before the co_await: GCC 12 frees temporaries of such a full-expression twice.
    const std::string url = base_ + "/getUpdates";
    auto headers = JsonHeaders();
    std::string body = http::ToJson(json::value(request));
    std::string failure;
    try {
        auto response = co_await poll_->Send(http::Verb::post, url, std::move(headers),
                                             std::move(body), deadline);
        out = ParseGetUpdatesReply(response.result_int(), response.body(),
                                   response[http::beast_http::field::retry_after]);
    } catch (const http::ClientError& e) {
        failure = e.what();
    }
    if (!failure.empty()) {
        out.kind = UpdatesOutcome::Kind::kTransient;
        out.error = failure.substr(0, kMaxErrorText + settings_.bot_token.size());
    }
    out.error = Redact(std::move(out.error)).substr(0, kMaxErrorText);
    co_return out;
}

resilience::DownstreamOptions DownstreamOptions(const Settings& settings, std::string name) {
    resilience::DownstreamOptions options;
    options.name = std::move(name);
    options.timeout = settings.deadline;
    // A probe is a real sendMessage: cut short, a message Telegram did deliver would be
    // taken for a failure and sent again.
    options.probe_timeout = settings.deadline;
    options.retry.max_attempts = 1;
    return options;
}

std::vector<std::string> CheckSettings(const Settings& settings, std::string_view base_variable,
                                       std::string_view token_variable) {
    std::vector<std::string> problems;
    const auto& base = settings.api_base;
    if (!base.starts_with("http://") && !base.starts_with("https://"))
        problems.push_back(std::string(base_variable) + "='" + base +
                           "' is not an http:// or https:// URL");
    const bool token_ok =
        !settings.bot_token.empty() &&
        settings.bot_token.find_first_not_of(
            "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:_-") ==
            std::string::npos;
    // Never echo the token itself.
    if (!token_ok)
        problems.push_back(std::string(token_variable) +
                           " may hold only letters, digits, ':', '_' and '-'");
    return problems;
}

}  // namespace keel::telegram
