// The login and registration limits against a real Redis, and a whole login through them.
#include <keel/auth/crypto.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/servers.hpp>

#include "login.hpp"
#include "login_limiter.hpp"
#include "registration_limiter.hpp"

namespace keel::auth_service {
namespace {

using Kind = LoginOutcome::Kind;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::shared_ptr<redis::Client> Redis(asio::any_io_executor ex, std::uint16_t port,
                                     milliseconds timeout = milliseconds(300)) {
    redis::ClientOptions options;
    options.port = port;
    options.timeout = timeout;
    return redis::Client::Create(std::move(ex), options);
}

// Each test uses its own addresses and accounts: the Redis server is shared.
std::string Unique(const std::string& what) { return what + "-" + auth::RandomToken(6); }

Task<std::optional<User>> FindOwner(std::string email, std::string hash) {
    co_return User{"0190a5a4-0000-7000-8000-000000000009", std::move(email), std::move(hash),
                   "user"};
}

Task<std::string> IssueRefreshToken(std::string) { co_return "refresh"; }

// AttemptLogin wired to the real limiter and argon2id; every email is an account whose
// password is "right password".
LoginDeps RealDeps(std::shared_ptr<LoginLimiter> limiter) {
    LoginDeps deps;
    deps.reserve_attempt = [limiter](const std::string& ip, const std::string& account) {
        return limiter->Reserve(ip, account);
    };
    deps.release_attempt = [limiter](const std::string& ip, const std::string& account,
                                     bool succeeded) {
        return limiter->Release(ip, account, succeeded);
    };
    deps.find_user = [hash = auth::HashPassword("right password")](const std::string& email) {
        return FindOwner(email, hash);
    };
    deps.verify_password = [](const std::string& hash, const std::string& password) {
        return auth::VerifyPassword(hash, password);
    };
    deps.issue_refresh_token = [](const std::string& id) { return IssueRefreshToken(id); };
    const auto key = auth::SigningKey::Generate();
    deps.signing_key = [key] { return key; };
    deps.hashing = std::make_shared<HashingPool>(2, 64);
    deps.settings.issuer = "keel-auth";
    deps.settings.audience = "keel";
    return deps;
}

KEEL_CORO_TEST(LoginLimits, TheOwnerLogsInWhileAnotherAddressHammersTheAccount) {
    auto redis = Redis(co_await asio::this_coro::executor, testing::RedisServer::Shared().Port());
    auto limiter = std::make_shared<LoginLimiter>(redis, 100, 5, seconds(60));
    const auto email = Unique("ann") + "@example.com";
    const auto deps = RealDeps(limiter);
    const auto attacker = Unique("10.0.0.66");
    const auto owner = Unique("10.0.0.7");
    std::vector<Kind> kinds;
    for (int i = 0; i < 8; ++i) {
        auto outcome = co_await AttemptLogin(deps, email, "guess " + std::to_string(i), attacker);
        kinds.push_back(outcome.kind);
        if (i >= 5) {
            EXPECT_GT(outcome.retry_after, milliseconds(0));
            EXPECT_LE(outcome.retry_after, milliseconds(60'000));
        }
    }
    const std::vector<Kind> expected{Kind::kWrongCredentials, Kind::kWrongCredentials,
                                     Kind::kWrongCredentials, Kind::kWrongCredentials,
                                     Kind::kWrongCredentials, Kind::kThrottled,
                                     Kind::kThrottled,        Kind::kThrottled};
    EXPECT_EQ(kinds, expected);
    // The right password from the attacker's address is refused unchecked too...
    auto guessed = co_await AttemptLogin(deps, email, "right password", attacker);
    EXPECT_EQ(guessed.kind, Kind::kThrottled);
    EXPECT_EQ(guessed.tokens.access_token, "");
    // ...while the owner, from their own address, logs in, again and again.
    for (int i = 0; i < 3; ++i) {
        auto outcome = co_await AttemptLogin(deps, email, "right password", owner);
        EXPECT_EQ(outcome.kind, Kind::kSignedIn);
        EXPECT_NE(outcome.tokens.access_token, "");
    }
}

KEEL_CORO_TEST(LoginLimits, OnlyFailuresCountAndASuccessForgetsThem) {
    auto redis = Redis(co_await asio::this_coro::executor, testing::RedisServer::Shared().Port());
    LoginLimiter limiter(redis, 100, 3, seconds(60));
    const auto ip = Unique("10.0.1.1");
    const auto account = Unique("bob");
    // Ten successes (reserved, then given back) leave the account's budget whole.
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(co_await limiter.Reserve(ip, account), milliseconds(0)) << "success " << i;
        co_await limiter.Release(ip, account, true);
    }
    // Two failures, one success: the failures are forgotten, three more are allowed.
    for (int i = 0; i < 2; ++i) EXPECT_EQ(co_await limiter.Reserve(ip, account), milliseconds(0));
    EXPECT_EQ(co_await limiter.Reserve(ip, account), milliseconds(0));
    co_await limiter.Release(ip, account, true);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(co_await limiter.Reserve(ip, account), milliseconds(0)) << "failure " << i;
    }
    EXPECT_GT(co_await limiter.Reserve(ip, account), milliseconds(0));
    // An attempt given back unchecked (hashing pool full) does not count either.
    const auto other = Unique("carol");
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(co_await limiter.Reserve(ip, other), milliseconds(0));
        co_await limiter.Release(ip, other, false);
    }
}

KEEL_CORO_TEST(LoginLimits, OneAddressCannotSprayManyAccounts) {
    auto redis = Redis(co_await asio::this_coro::executor, testing::RedisServer::Shared().Port());
    LoginLimiter limiter(redis, 4, 10, seconds(60));
    const auto sprayer = Unique("10.0.2.1");
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(co_await limiter.Reserve(sprayer, Unique("victim")), milliseconds(0));
    }
    const auto wait = co_await limiter.Reserve(sprayer, Unique("victim"));
    EXPECT_GT(wait, milliseconds(0));
    EXPECT_LE(wait, milliseconds(60'000));
    EXPECT_EQ(co_await limiter.Reserve(Unique("10.0.2.2"), Unique("victim")), milliseconds(0));
}

KEEL_CORO_TEST(LoginLimits, TheWindowEnds) {
    auto redis = Redis(co_await asio::this_coro::executor, testing::RedisServer::Shared().Port());
    LoginLimiter limiter(redis, 100, 1, seconds(1));
    const auto ip = Unique("10.0.3.1");
    EXPECT_EQ(co_await limiter.Reserve(ip, "dave"), milliseconds(0));
    EXPECT_GT(co_await limiter.Reserve(ip, "dave"), milliseconds(0));
    co_await testing::Sleep(milliseconds(1100));
    EXPECT_EQ(co_await limiter.Reserve(ip, "dave"), milliseconds(0));
}

KEEL_CORO_TEST(LoginLimits, RedisDownLetsLoginsThrough) {
    auto redis = Redis(co_await asio::this_coro::executor, testing::FreePort(), milliseconds(100));
    LoginLimiter limiter(redis, 1, 1, seconds(60));
    for (int i = 0; i < 2; ++i)
        EXPECT_EQ(co_await limiter.Reserve("10.0.4.1", "x"), milliseconds(0));
    co_await limiter.Release("10.0.4.1", "x", true);  // does not throw
    RegistrationLimiter registrations(redis, 1, seconds(60));
    for (int i = 0; i < 2; ++i)
        EXPECT_EQ(co_await registrations.Attempt("10.0.4.1"), milliseconds(0));
}

KEEL_CORO_TEST(RegistrationLimits, AFloodFromOneAddressIsRefused) {
    auto redis = Redis(co_await asio::this_coro::executor, testing::RedisServer::Shared().Port());
    RegistrationLimiter limiter(redis, 3, seconds(600));
    const auto flooder = Unique("10.0.5.1");
    for (int i = 0; i < 3; ++i) EXPECT_EQ(co_await limiter.Attempt(flooder), milliseconds(0));
    for (int i = 0; i < 20; ++i) {
        const auto wait = co_await limiter.Attempt(flooder);
        EXPECT_GT(wait, milliseconds(590'000));
        EXPECT_LE(wait, milliseconds(600'000));
    }
    EXPECT_EQ(co_await limiter.Attempt(Unique("10.0.5.2")), milliseconds(0));
}

}  // namespace
}  // namespace keel::auth_service
