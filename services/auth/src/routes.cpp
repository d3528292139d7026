#include "routes.hpp"

#include <algorithm>
#include <stdexcept>

#include <keel/service/app.hpp>

#include <boost/json/object.hpp>

#include <keel/auth/crypto.hpp>
#include <keel/auth/jwt.hpp>
#include <keel/core/log.hpp>
#include <keel/core/offload.hpp>
#include <keel/core/uuid.hpp>
#include <keel/http/json_body.hpp>

namespace keel::auth_service {
namespace {

using http::RequestContext;
using http::Response;
using http::Status;

constexpr std::size_t kMinPassword = 8;
constexpr std::size_t kMaxPassword = 128;

Response TokenResponse(const SessionTokens& tokens) {
    boost::json::object body{{"access_token", tokens.access_token},
                             {"refresh_token", tokens.refresh_token},
                             {"token_type", "Bearer"},
                             {"expires_in", tokens.expires_in.count()}};
    Response r = http::JsonText(Status::ok, http::ToJson(body));
    r.set(http::beast_http::field::cache_control, "no-store");
    return r;
}

struct Credentials {
    std::string email;
    std::string password;
};

// {email, password} with the same validation for register and login.
Credentials ReadCredentials(const RequestContext& req, bool registering) {
    auto body = http::ParseJsonObject(req.Req());
    http::ObjectReader reader(body);
    auto email = reader.String("email", true, 3, 254);
    auto password = reader.String("password", true, registering ? kMinPassword : 1, kMaxPassword);
    std::optional<std::string> normalized;
    if (email) {
        normalized = NormalizeEmail(*email);
        if (!normalized) reader.AddProblem("email", "is not an email address");
    }
    reader.Finish();
    if (!normalized || !password) throw std::logic_error("credentials accepted without a field");
    return {std::move(*normalized), std::move(*password)};
}

Response RetryLater(Status status, std::string_view detail, std::chrono::milliseconds after) {
    Response r = http::Problem(status, detail);
    const auto seconds = std::max<std::int64_t>(1, (after.count() + 999) / 1000);
    r.set(http::beast_http::field::retry_after, std::to_string(seconds));
    return r;
}

Task<Response> Register(std::shared_ptr<AuthContext> ctx, RequestContext& req) {
    // No structured bindings in coroutines: GCC 12 frees them twice.
    const Credentials credentials = ReadCredentials(req, true);
    const auto wait = co_await ctx->registrations->Attempt(req.ClientIp());
    if (wait.count() > 0) {
        co_return RetryLater(Status::too_many_requests,
                             "too many registrations from this address; retry later", wait);
    }
    // Named lambdas: GCC 12 frees a capturing lambda temporary inside co_await twice.
    auto hash_password = [password = credentials.password] { return auth::HashPassword(password); };
    std::optional<std::string> hash;
    try {
        hash = co_await ctx->register_hashing->Run(std::move(hash_password));
    } catch (const HashingBusyError&) {
        // Answered below: no co_await in a catch block (GCC 12).
    }
    if (!hash) {
        co_return RetryLater(Status::service_unavailable,
                             "too many registrations in progress; retry shortly",
                             std::chrono::seconds(1));
    }
    const auto origin = service::RequestOrigin(*ctx->bus, req);
    auto id = co_await ctx->users->Create(credentials.email, *hash, "user", origin);
    if (!id) throw http::HttpError(Status::conflict, "an account with this email already exists");
    log::Info("user registered", {{"user_id", *id}, {"request_id", req.RequestId()}});
    co_return http::JsonText(Status::created, http::ToJson(boost::json::object{{"user_id", *id}}));
}

Task<Response> Login(std::shared_ptr<AuthContext> ctx, RequestContext& req) {
    const Credentials credentials = ReadCredentials(req, false);
    const LoginOutcome outcome =
        co_await AttemptLogin(ctx->login, credentials.email, credentials.password, req.ClientIp());
    switch (outcome.kind) {
        case LoginOutcome::Kind::kSignedIn:
            co_return TokenResponse(outcome.tokens);
        case LoginOutcome::Kind::kThrottled:
            co_return RetryLater(Status::too_many_requests, "too many login attempts; retry later",
                                 outcome.retry_after);
        case LoginOutcome::Kind::kBusy:
            co_return RetryLater(Status::service_unavailable,
                                 "too many logins in progress; retry shortly",
                                 std::chrono::seconds(1));
        case LoginOutcome::Kind::kWrongCredentials:
            break;
    }
    throw http::HttpError(Status::unauthorized, "wrong email or password");
}

std::string ReadRefreshToken(const RequestContext& req) {
    auto body = http::ParseJsonObject(req.Req());
    http::ObjectReader reader(body);
    auto token = reader.String("refresh_token", true, 1, 256);
    reader.Finish();
    if (!token) throw std::logic_error("refresh token accepted without the field");
    return std::move(*token);
}

Task<Response> Refresh(std::shared_ptr<AuthContext> ctx, RequestContext& req) {
    const auto token = ReadRefreshToken(req);
    auto rotation = co_await ctx->refresh_tokens->Rotate(token);
    using Outcome = RefreshTokenStore::Outcome;
    switch (rotation.outcome) {
        case Outcome::kRotated:
            co_return TokenResponse(MakeSessionTokens(ctx->settings, ctx->keys->Active(),
                                                      rotation.user_id, rotation.role,
                                                      std::move(rotation.token)));
        case Outcome::kReuseDetected:
            throw http::HttpError(
                Status::unauthorized,
                "refresh token was already used; every session of this login is revoked");
        case Outcome::kRevoked:
            throw http::HttpError(Status::unauthorized, "refresh token revoked");
        case Outcome::kExpired:
            throw http::HttpError(Status::unauthorized, "refresh token expired");
        case Outcome::kUnknown:
            break;
    }
    throw http::HttpError(Status::unauthorized, "unknown refresh token");
}

Task<Response> Logout(std::shared_ptr<AuthContext> ctx, RequestContext& req) {
    co_await ctx->refresh_tokens->Revoke(ReadRefreshToken(req));
    Response r{Status::no_content, 11};
    r.prepare_payload();
    co_return r;
}

Task<Response> Jwks(std::shared_ptr<AuthContext> ctx, RequestContext&) {
    Response r = http::JsonText(Status::ok, auth::ToJwks(ctx->keys->Published()));
    r.set(http::beast_http::field::cache_control, "public, max-age=60");
    co_return r;
}

}  // namespace

http::Router MakeRouter(const std::shared_ptr<AuthContext>& ctx) {
    using http::Access;
    using http::Verb;
    http::Router router;
    router.Add(Verb::post, "/api/auth/register", Access::kPublic, http::Bind(Register, ctx));
    router.Add(Verb::post, "/api/auth/login", Access::kPublic, http::Bind(Login, ctx));
    router.Add(Verb::post, "/api/auth/refresh", Access::kPublic, http::Bind(Refresh, ctx));
    router.Add(Verb::post, "/api/auth/logout", Access::kPublic, http::Bind(Logout, ctx));
    router.Add(Verb::get, "/api/auth/.well-known/jwks.json", Access::kPublic,
               http::Bind(Jwks, ctx));
    return router;
}

Task<void> EnsureAdmin(AuthContext& ctx) {
    if (co_await ctx.users->AnyAdmin()) co_return;
    if (ctx.settings.admin_password.size() < kMinPassword) {
        log::Warn(
            "no admin account and AUTH_ADMIN_PASSWORD unset or shorter than 8; not creating one");
        co_return;
    }
    auto email = NormalizeEmail(ctx.settings.admin_email);
    if (!email) throw std::runtime_error("AUTH_ADMIN_EMAIL is not an email address");
    const auto origin = ctx.bus->FromRequest("", "", "admin account at first start");
    auto id = co_await ctx.users->Create(*email, auth::HashPassword(ctx.settings.admin_password),
                                         "admin", origin);
    log::Info("admin account created", {{"email", *email}, {"created", id.has_value()}});
}

}  // namespace keel::auth_service
