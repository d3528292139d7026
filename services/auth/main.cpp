// auth: identities, passwords, access and refresh tokens, signing keys (JWKS).
#include <keel/service/app.hpp>

#include "migrations.hpp"
#include "routes.hpp"

namespace svc = keel::auth_service;

static int Run(keel::core::EnvConfig& config) {
    auto common = keel::service::ReadCommonSettings(config, "auth");
    auto settings = svc::ReadSettings(config);
    auto key_material = config.Secret("AUTH_KEY_ENCRYPTION_KEY");
    config.Finish();
    const auto sealer = svc::KeySealerFrom(key_material);
    key_material.assign(key_material.size(), '\0');  // the derived key is all we keep

    keel::service::App app(std::move(common));
    app.Migrate(svc::Migrations());
    auto ctx = std::make_shared<svc::AuthContext>();
    ctx->settings = settings;
    ctx->keys = std::make_shared<svc::KeyRing>(app.Pg(), settings.key_rotation, sealer);
    ctx->bus = app.Bus();
    ctx->bus->Publishes("auth.user_registered.v1");
    ctx->users = std::make_shared<svc::UserStore>(app.Pg(), app.Bus());
    ctx->refresh_tokens = std::make_shared<svc::RefreshTokenStore>(app.Pg(), settings.refresh_ttl);
    ctx->registrations = std::make_shared<svc::RegistrationLimiter>(
        app.Redis(), settings.register_limit_per_ip, settings.register_window);
    ctx->register_hashing = std::make_shared<svc::HashingPool>(settings.register_hash_threads,
                                                               settings.register_hash_jobs);
    auto limiter = std::make_shared<svc::LoginLimiter>(app.Redis(), settings.login_limit_per_ip,
                                                       settings.login_limit_per_account,
                                                       settings.login_window);
    auto login_hashing =
        std::make_shared<svc::HashingPool>(settings.login_hash_threads, settings.login_hash_jobs);
    ctx->login = svc::LoginDepsOf(limiter, ctx->users, ctx->refresh_tokens, ctx->keys,
                                  login_hashing, settings);
    app.StartBus();
    app.RunBeforeServing(ctx->keys->Load());
    app.RunBeforeServing(svc::EnsureAdmin(*ctx));
    app.Every(std::chrono::seconds(60), [ctx]() { return ctx->keys->Load(); });
    return app.Serve(svc::MakeRouter(ctx), nullptr);
}

int main(int argc, char** argv) { return keel::service::RunMain(argc, argv, "auth", Run); }
