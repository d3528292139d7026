#include "routes.hpp"

#include <limits>

#include <keel/core/log.hpp>
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

// Only unlinking: a chat id from the client would let anyone point notifications at any chat
// that ever started the bot.
void ReadTelegramChat(const boost::json::object& body, http::ObjectReader& reader,
                      ProfilePatch& patch) {
    if (!body.contains("telegram_chat_id")) return;
    if (!body.at("telegram_chat_id").is_null())
        throw HttpError(Status::bad_request, kLinkByProving);
    reader.Raw("telegram_chat_id");
    patch.set_telegram_chat = true;  // null unlinks the chat
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

Task<Response> IssueTelegramLink(std::shared_ptr<AccountContext> ctx, RequestContext& req) {
    auto link = co_await ctx->links->Issue(req.User()->subject);
    if (!link) throw HttpError(Status::not_found, kNotCreatedYet);
    const boost::json::value body =
        boost::json::object{{"token", link->token},
                            {"expires_at", link->expires_at},
                            {"deep_link", DeepLink(ctx->link_settings, link->token)}};
    Response r = http::JsonText(Status::created, http::ToJson(body));
    r.set(http::beast_http::field::cache_control, "no-store");
    co_return r;
}

// notifications hands over what its bot saw. The outcome is in the body, not the status: a
// refused token is a normal answer that the bot passes on to the chat.
Task<Response> ClaimTelegramLink(std::shared_ptr<AccountContext> ctx, RequestContext& req) {
    const LinkClaim claim = ReadLinkClaim(http::ParseJsonObject(req.Req()));
    const auto origin = service::RequestOrigin(*ctx->bus, req);
    const ClaimResult result =
        co_await ctx->links->Claim(claim.token, claim.chat_id, claim.update_id, origin);
    boost::json::object body{{"outcome", ClaimOutcomeName(result.outcome)}};
    if (result.outcome == ClaimOutcome::kLinked) body["user_id"] = result.user_id;
    log::Info("telegram link claimed", {{"outcome", std::string(ClaimOutcomeName(result.outcome))},
                                        {"user_id", result.user_id}});
    co_return http::JsonText(Status::ok, http::ToJson(boost::json::value(std::move(body))));
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

LinkClaim ReadLinkClaim(const boost::json::object& body) {
    http::ObjectReader reader(body);
    LinkClaim claim;
    // Any text is a token to look up: a malformed one is simply unknown.
    if (auto token = reader.String("token", true, 1, 256)) claim.token = std::move(*token);
    if (auto chat = reader.Int("chat_id", true, -kMaxChatIdMagnitude, kMaxChatIdMagnitude))
        claim.chat_id = *chat;
    if (auto update = reader.Int("update_id", true, 0, std::numeric_limits<std::int64_t>::max()))
        claim.update_id = *update;
    reader.Finish();
    return claim;
}

http::Router MakeRouter(const std::shared_ptr<AccountContext>& ctx) {
    using http::Access;
    using http::Verb;
    http::Router router;
    router.Add(Verb::get, "/api/account/me", Access::kUser, http::Bind(GetMe, ctx));
    router.Add(Verb::patch, "/api/account/me", Access::kUser, http::Bind(PatchMe, ctx));
    router.Add(Verb::post, "/api/account/me/telegram-link", Access::kUser,
               http::Bind(IssueTelegramLink, ctx));
    router.Add(Verb::post, "/internal/telegram-links/claim", Access::kService,
               http::Bind(ClaimTelegramLink, ctx));
    router.Add(Verb::get, "/api/account/users/{id}", Access::kAdmin, http::Bind(GetUser, ctx));
    router.Add(Verb::get, "/api/account/users", Access::kAdmin, http::Bind(FindUser, ctx));
    return router;
}

}  // namespace keel::account
