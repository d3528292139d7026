#include "login.hpp"

#include <exception>

#include <keel/auth/crypto.hpp>

namespace keel::auth_service {

const std::string& DummyPasswordHash() {
    static const std::string hash = auth::HashPassword(auth::RandomToken(16));
    return hash;
}

LoginDeps LoginDepsOf(std::shared_ptr<LoginLimiter> limiter, std::shared_ptr<UserStore> users,
                      std::shared_ptr<RefreshTokenStore> refresh_tokens,
                      std::shared_ptr<KeyRing> keys, std::shared_ptr<HashingPool> hashing,
                      Settings settings) {
    // Plain lambdas returning the stores' tasks (a capturing lambda that is itself a
    // coroutine would leave its frame pointing into the lambda object).
    LoginDeps deps;
    deps.reserve_attempt = [limiter](const std::string& ip, const std::string& email) {
        return limiter->Reserve(ip, email);
    };
    deps.release_attempt = [limiter = std::move(limiter)](
                               const std::string& ip, const std::string& email, bool succeeded) {
        return limiter->Release(ip, email, succeeded);
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
    co_return co_await deps.hashing->Run(std::move(verify));
}

// The login once its attempt is reserved. Throws HashingBusyError when the pool is full.
Task<LoginOutcome> CheckPassword(const LoginDeps& deps, std::string email, std::string password) {
    LoginOutcome outcome;
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

}  // namespace

Task<LoginOutcome> AttemptLogin(const LoginDeps& deps, std::string email, std::string password,
                                std::string client_ip) {
    LoginOutcome outcome;
    outcome.retry_after = co_await deps.reserve_attempt(client_ip, email);
    if (outcome.retry_after.count() > 0) {
        outcome.kind = LoginOutcome::Kind::kThrottled;
        co_return outcome;
    }
    // No co_await inside catch (GCC 12): note what happened, release after.
    std::exception_ptr error;
    try {
        outcome = co_await CheckPassword(deps, email, std::move(password));
    } catch (const HashingBusyError&) {
        outcome.kind = LoginOutcome::Kind::kBusy;
    } catch (...) {
        error = std::current_exception();
    }
    if (error || outcome.kind != LoginOutcome::Kind::kWrongCredentials) {
        const bool succeeded = !error && outcome.kind == LoginOutcome::Kind::kSignedIn;
        co_await deps.release_attempt(client_ip, email, succeeded);
    }
    if (error) std::rethrow_exception(error);
    co_return outcome;
}

}  // namespace keel::auth_service
