#include "login.hpp"

#include <keel/auth/crypto.hpp>
#include <keel/core/offload.hpp>

namespace keel::auth_service {

const std::string& DummyPasswordHash() {
    static const std::string hash = auth::HashPassword(auth::RandomToken(16));
    return hash;
}

LoginDeps LoginDepsOf(std::shared_ptr<LoginLimiter> limiter, std::shared_ptr<UserStore> users,
                      std::shared_ptr<RefreshTokenStore> refresh_tokens,
                      std::shared_ptr<KeyRing> keys, std::shared_ptr<asio::thread_pool> hashing,
                      Settings settings) {
    // Plain lambdas returning the stores' tasks (a capturing lambda that is itself a
    // coroutine would leave its frame pointing into the lambda object).
    LoginDeps deps;
    deps.count_attempt = [limiter = std::move(limiter)](const std::string& ip,
                                                        const std::string& email) {
        return limiter->Attempt(ip, email);
    };
    deps.find_user = [users = std::move(users)](const std::string& email) {
        return users->FindByEmail(email);
    };
    deps.verify_password = [](const std::string& hash, const std::string& password) {
        return auth::VerifyPassword(hash, password);
    };
    deps.issue_refresh_token = [refresh_tokens =
                                    std::move(refresh_tokens)](const std::string& user_id) {
        return refresh_tokens->Issue(user_id);
    };
    deps.signing_key = [keys = std::move(keys)] { return keys->Active(); };
    deps.hashing = std::move(hashing);
    deps.settings = std::move(settings);
    return deps;
}

namespace {

// On the hashing pool, and against the dummy hash for an unknown account, so that
// either way the answer takes one argon2id verification.
Task<bool> PasswordMatches(const LoginDeps& deps, std::optional<std::string> stored,
                           std::string password) {
    // DummyPasswordHash() is made on first use: on the hashing pool too, never on an io thread.
    auto verify = [&deps, stored = std::move(stored), password = std::move(password)] {
        return deps.verify_password(stored ? *stored : DummyPasswordHash(), password);
    };
    co_return co_await Offload(deps.hashing->get_executor(), std::move(verify));
}

}  // namespace

Task<LoginOutcome> AttemptLogin(const LoginDeps& deps, std::string email, std::string password,
                                std::string client_ip) {
    LoginOutcome outcome;
    outcome.retry_after = co_await deps.count_attempt(client_ip, email);
    if (outcome.retry_after.count() > 0) {
        outcome.kind = LoginOutcome::Kind::kThrottled;
        co_return outcome;
    }
    const auto user = co_await deps.find_user(email);
    std::optional<std::string> stored;
    if (user) stored = user->password_hash;
    const bool matches = co_await PasswordMatches(deps, std::move(stored), std::move(password));
    if (!user || !matches) co_return outcome;  // kWrongCredentials
    auto refresh_token = co_await deps.issue_refresh_token(user->id);
    outcome.kind = LoginOutcome::Kind::kSignedIn;
    outcome.tokens = MakeSessionTokens(deps.settings, deps.signing_key(), user->id, user->role,
                                       std::move(refresh_token));
    co_return outcome;
}

}  // namespace keel::auth_service
