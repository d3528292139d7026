#include "account_links.hpp"

#include <boost/json/parse.hpp>

#include <keel/http/client.hpp>
#include <keel/http/json_body.hpp>

namespace keel::notifications {
namespace json = boost::json;

LinkReply ParseLinkReply(unsigned status, std::string_view body) {
    LinkReply reply;
    if (status != 200) {
        // 4xx too: a claim account cannot read is our bug or a wrong ACCOUNT_URL, not the
        // user's; the update waits rather than telling the user the link is bad.
        reply.error = "account answered HTTP " + std::to_string(status);
        return reply;
    }
    boost::system::error_code ec;
    const json::value parsed = json::parse(body, ec);
    const json::object* object = !ec ? parsed.if_object() : nullptr;
    const json::value* outcome = object ? object->if_contains("outcome") : nullptr;
    if (!outcome || !outcome->is_string()) {
        reply.error = "account's answer has no outcome";
        return reply;
    }
    reply.outcome = std::string(outcome->as_string());
    reply.kind = reply.outcome == "linked" ? LinkReply::Kind::kLinked : LinkReply::Kind::kRefused;
    return reply;
}

Task<LinkReply> AccountLinks::Claim(std::string token, std::int64_t chat_id,
                                    std::int64_t update_id) {
    const json::value request =
        json::object{{"token", token}, {"chat_id", chat_id}, {"update_id", update_id}};
    resilience::Downstream::Call call;
    call.method = http::Verb::post;
    call.url = base_url_ + "/internal/telegram-links/claim";
    call.headers.emplace_back("Content-Type", "application/json");
    call.headers.emplace_back("Authorization", "Bearer " + service_token_);
    call.body = http::ToJson(request);
    call.idempotent = true;
    LinkReply reply;
    try {
        auto response = co_await account_->Send(std::move(call));
        reply = ParseLinkReply(response.result_int(), response.body());
    } catch (const std::exception& e) {
        reply.kind = LinkReply::Kind::kFailed;
        reply.error = e.what();
    }
    co_return reply;
}

resilience::DownstreamOptions AccountDownstreamOptions() {
    resilience::DownstreamOptions options;
    options.name = "account";
    options.timeout = std::chrono::milliseconds(3000);
    return options;
}

}  // namespace keel::notifications
