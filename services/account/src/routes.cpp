#include "routes.hpp"

#include <limits>

#include <keel/core/uuid.hpp>
#include <keel/http/json_body.hpp>
#include <keel/service/app.hpp>

namespace keel::account {
namespace {

using http::HttpError;
using http::RequestContext;
using http::Response;
using http::Status;

void ReadDisplayName(const boost::json::object& body, http::ObjectReader& reader,
                     ProfilePatch& patch) {
    if (const auto* value = body.if_contains("display_name"); value && value->is_null()) {
        reader.Raw("display_name");
        reader.AddProblem("display_name", "must be a string (it cannot be unset)");
        return;
    }
    // Counted in characters by DisplayNameProblem, not in bytes (the body limit bounds those).
    auto name = reader.String("display_name", false, 0, std::numeric_limits<std::size_t>::max());
    if (!name) return;
    const auto trimmed = TrimSpaces(*name);
    if (auto problem = DisplayNameProblem(trimmed); !problem.empty())
        reader.AddProblem("display_name", std::move(problem));
    else
        patch.display_name = std::string(trimmed);
}

void ReadTelegramChat(const boost::json::object& body, http::ObjectReader& reader,
                      ProfilePatch& patch) {
    if (!body.contains("telegram_chat_id")) return;
    patch.set_telegram_chat = true;
    if (body.at("telegram_chat_id").is_null()) {
        reader.Raw("telegram_chat_id");  // null unlinks the chat
        return;
    }
    auto id = reader.Int("telegram_chat_id", false, -kMaxChatIdMagnitude, kMaxChatIdMagnitude);
    if (!id) return;
    if (auto problem = TelegramChatProblem(*id); !problem.empty())
        reader.AddProblem("telegram_chat_id", std::move(problem));
    else
        patch.telegram_chat_id = id;
}

Response ProfileResponse(const Profile& profile) {
    Response r = http::JsonText(Status::ok, http::ToJson(ToJsonObject(profile)));
    r.set(http::beast_http::field::cache_control, "no-store");
    return r;
}

// The profile appears a few milliseconds after registration, when account has
// handled auth's event: a client that asks sooner is told so and retries.
constexpr const char* kNotCreatedYet = "profile not created yet";

Task<Response> GetMe(std::shared_ptr<AccountContext> ctx, RequestContext& req) {
    auto profile = co_await ctx->profiles->Get(req.User()->subject);
    if (!profile) throw HttpError(Status::not_found, kNotCreatedYet);
    co_return ProfileResponse(*profile);
}

Task<Response> PatchMe(std::shared_ptr<AccountContext> ctx, RequestContext& req) {
    const ProfilePatch patch = ReadProfilePatch(req.Req());
    const std::string user_id = req.User()->subject;
    std::optional<Profile> profile;
    if (patch.Empty()) {
        profile = co_await ctx->profiles->Get(user_id);  // nothing to change, nothing to emit
    } else {
        const auto origin = service::RequestOrigin(*ctx->bus, req);
        profile = co_await ctx->profiles->Update(user_id, patch, origin);
    }
    if (!profile) throw HttpError(Status::not_found, kNotCreatedYet);
    co_return ProfileResponse(*profile);
}

Task<Response> GetUser(std::shared_ptr<AccountContext> ctx, RequestContext& req) {
    const std::string id(req.Param("id"));
    if (!Uuid::Parse(id)) throw HttpError(Status::bad_request, "user id must be a UUID");
    auto profile = co_await ctx->profiles->Get(id);
    if (!profile) throw HttpError(Status::not_found, "no profile for user " + id);
    co_return ProfileResponse(*profile);
}

Task<Response> FindUser(std::shared_ptr<AccountContext> ctx, RequestContext& req) {
    const auto email = req.Query("email");
    if (!email || email->empty() || email->size() > 254) {
        throw HttpError(Status::bad_request,
                        "email query parameter is required (at most 254 bytes)");
    }
    if (email->find('\0') != std::string::npos)
        throw HttpError(Status::bad_request, "email must not contain NUL");
    auto profile = co_await ctx->profiles->FindByEmail(*email);
    if (!profile) throw HttpError(Status::not_found, "no profile with this email");
    co_return ProfileResponse(*profile);
}

}  // namespace

ProfilePatch ReadProfilePatch(const boost::json::object& body) {
    http::ObjectReader reader(body);
    ProfilePatch patch;
    ReadDisplayName(body, reader, patch);
    ReadTelegramChat(body, reader, patch);
    reader.Finish();
    return patch;
}

ProfilePatch ReadProfilePatch(const http::Request& request) {
    return ReadProfilePatch(http::ParseJsonObject(request));
}

http::Router MakeRouter(const std::shared_ptr<AccountContext>& ctx) {
    using http::Access;
    using http::Verb;
    http::Router router;
    router.Add(Verb::get, "/api/account/me", Access::kUser, http::Bind(GetMe, ctx));
    router.Add(Verb::patch, "/api/account/me", Access::kUser, http::Bind(PatchMe, ctx));
    router.Add(Verb::get, "/api/account/users/{id}", Access::kAdmin, http::Bind(GetUser, ctx));
    router.Add(Verb::get, "/api/account/users", Access::kAdmin, http::Bind(FindUser, ctx));
    return router;
}

}  // namespace keel::account
