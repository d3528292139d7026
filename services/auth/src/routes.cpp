#include "routes.hpp"

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

std::int64_t NowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Response TokenResponse(const AuthContext& ctx, const std::string& user_id, const std::string& role,
                       const std::string& refresh_token) {
    auth::Claims claims;
    claims.subject = user_id;
    claims.role = role;
    claims.issuer = ctx.settings.issuer;
    claims.audience = ctx.settings.audience;
    claims.id = Uuid::V7().ToString();
    claims.issued_at = NowSeconds();
    claims.not_before = claims.issued_at;
    claims.expires_at = claims.issued_at + ctx.settings.access_ttl.count();
    boost::json::object body{{"access_token", auth::SignJwt(claims, ctx.keys->Active())},
                             {"refresh_token", refresh_token},
                             {"token_type", "Bearer"},
                             {"expires_in", ctx.settings.access_ttl.count()}};
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
    return {*normalized, *password};
}

Task<Response> Register(std::shared_ptr<AuthContext> ctx, RequestContext& req) {
    // No structured bindings in coroutines: GCC 12 frees them twice.
    const Credentials credentials = ReadCredentials(req, true);
    // Named lambdas: GCC 12 frees a capturing lambda temporary inside co_await twice.
    auto hash_password = [password = credentials.password] { return auth::HashPassword(password); };
    auto hash = co_await Offload(ctx->hashing->get_executor(), std::move(hash_password));
    const auto origin = service::RequestOrigin(*ctx->bus, req);
    auto id = co_await ctx->users->Create(credentials.email, hash, "user", origin);
    if (!id) throw http::HttpError(Status::conflict, "an account with this email already exists");
    log::Info("user registered", {{"user_id", *id}, {"request_id", req.RequestId()}});
    co_return http::JsonText(Status::created, http::ToJson(boost::json::object{{"user_id", *id}}));
}

// Compared against when the account does not exist, so that the response time does
// not tell which emails are registered.
const std::string& DummyHash() {
    static const std::string hash = auth::HashPassword(auth::RandomToken(16));
    return hash;
}

Task<Response> Login(std::shared_ptr<AuthContext> ctx, RequestContext& req) {
    const Credentials credentials = ReadCredentials(req, false);
    const std::string& email = credentials.email;
    const std::string& password = credentials.password;
    const auto wait = co_await ctx->limiter->Attempt(req.ClientIp(), email);
    if (wait.count() > 0) {
        Response r =
            http::Problem(Status::too_many_requests, "too many login attempts; retry later");
        r.set(http::beast_http::field::retry_after, std::to_string((wait.count() + 999) / 1000));
        co_return r;
    }
    auto user = co_await ctx->users->FindByEmail(email);
    // DummyHash() is made on first use: on the hashing pool too, never on an io thread.
    std::optional<std::string> stored;
    if (user) stored = user->password_hash;
    auto verify = [stored, password] {
        return auth::VerifyPassword(stored ? *stored : DummyHash(), password);
    };
    const bool ok = co_await Offload(ctx->hashing->get_executor(), std::move(verify));
    if (!user || !ok) throw http::HttpError(Status::unauthorized, "wrong email or password");
    auto refresh = co_await ctx->refresh_tokens->Issue(user->id);
    co_return TokenResponse(*ctx, user->id, user->role, refresh);
}

std::string ReadRefreshToken(const RequestContext& req) {
    auto body = http::ParseJsonObject(req.Req());
    http::ObjectReader reader(body);
    auto token = reader.String("refresh_token", true, 1, 256);
    reader.Finish();
    return *token;
}

Task<Response> Refresh(std::shared_ptr<AuthContext> ctx, RequestContext& req) {
    const auto token = ReadRefreshToken(req);
    auto rotation = co_await ctx->refresh_tokens->Rotate(token);
    using Outcome = RefreshTokenStore::Outcome;
    switch (rotation.outcome) {
        case Outcome::kRotated:
            co_return TokenResponse(*ctx, rotation.user_id, rotation.role, rotation.token);
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

http::Router MakeRouter(std::shared_ptr<AuthContext> ctx) {
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
