#include <keel/http/message.hpp>

#include <keel/core/log.hpp>

namespace keel::http {

Response JsonText(Status status, std::string body) {
    Response response{status, 11};
    response.set(beast_http::field::content_type, "application/json");
    response.body() = std::move(body);
    response.prepare_payload();
    return response;
}

Response Problem(Status status, std::string_view detail, std::string_view extra_members) {
    const auto code = static_cast<unsigned>(status);
    std::string body = R"({"type":"about:blank","title":)";
    json::AppendQuoted(body, beast_http::obsolete_reason(status));
    body += ",\"status\":" + std::to_string(code) + ",\"detail\":";
    json::AppendQuoted(body, detail);
    if (!extra_members.empty()) {
        body.push_back(',');
        body += extra_members;
    }
    body.push_back('}');
    Response response{status, 11};
    response.set(beast_http::field::content_type, "application/problem+json");
    response.body() = std::move(body);
    response.prepare_payload();
    return response;
}

}  // namespace keel::http
