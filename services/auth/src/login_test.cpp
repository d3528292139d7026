#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include <keel/auth/crypto.hpp>
#include <keel/testing/coro_test.hpp>

#include <boost/asio/use_future.hpp>

#include "login.hpp"

namespace keel::auth_service {
namespace {

using Kind = LoginOutcome::Kind;
using std::chrono::milliseconds;

const std::string kUserId = "0190a5a4-0000-7000-8000-000000000001";

// What the fakes answer and what they were asked.
struct World {
    milliseconds wait{0};
    std::optional<User> user;
    bool password_matches = false;
    bool store_down = false;
    std::vector<std::string> attempts;  // "ip email"
    std::vector<std::string> released;  // "ip email succeeded"
    std::vector<std::string> looked_up;
    std::vector<std::string> verified_against;
    std::vector<std::thread::id> verified_on;
    std::vector<std::string> issued_for;
};

Task<milliseconds> CountAttempt(World* w, std::string ip, std::string email) {
    w->attempts.push_back(ip + " " + email);
    co_return w->wait;
}

Task<void> ReleaseAttempt(World* w, std::string ip, std::string email, bool succeeded) {
    w->released.push_back(ip + " " + email + (succeeded ? " succeeded" : " unchecked"));
    co_return;
}

Task<std::optional<User>> FindUser(World* w, std::string email) {
    w->looked_up.push_back(email);
    if (w->store_down) throw std::runtime_error("database down");
    co_return w->user;
}

Task<std::string> IssueRefreshToken(World* w, std::string user_id) {
    w->issued_for.push_back(user_id);
    co_return "refresh-" + user_id;
}

Settings TestSettings() {
    Settings s;
    s.issuer = "keel-auth";
    s.audience = "keel";
    s.access_ttl = std::chrono::seconds(900);
    return s;
}

LoginDeps FakeDeps(World* w, const auth::SigningKey& key) {
    LoginDeps deps;
    deps.reserve_attempt = [w](const std::string& ip, const std::string& email) {
        return CountAttempt(w, ip, email);
    };
    deps.release_attempt = [w](const std::string& ip, const std::string& email, bool succeeded) {
        return ReleaseAttempt(w, ip, email, succeeded);
    };
    deps.find_user = [w](const std::string& email) { return FindUser(w, email); };
    deps.verify_password = [w](const std::string& hash, const std::string& password) {
        w->verified_against.push_back(hash);
        w->verified_on.push_back(std::this_thread::get_id());
        return w->password_matches && password == "right password";
    };
    deps.issue_refresh_token = [w](const std::string& id) { return IssueRefreshToken(w, id); };
    deps.signing_key = [key] { return key; };
    deps.hashing = std::make_shared<HashingPool>(1, 8);
    deps.settings = TestSettings();
    return deps;
}

// Starts `job` on `ex`; the future says when it is done and holds its result. (A void
// coroutine around it: GCC 12 miscompiles co_spawn of a value-returning coroutine.)
template <typename T>
Task<void> KeepResult(Task<T> job, std::shared_ptr<T> out) {
    *out = co_await std::move(job);
}

template <typename T>
std::future<void> Start(asio::any_io_executor ex, Task<T> job, std::shared_ptr<T> out) {
    return asio::co_spawn(ex, KeepResult(std::move(job), std::move(out)), asio::use_future);
}

User Ann() { return User{kUserId, "ann@example.com", "$argon2id$ann", "admin"}; }

KEEL_CORO_TEST(Login, RefusedWhileOverTheLimitWithoutLookingAnythingUp) {
    World w;
    w.wait = milliseconds(1500);
    w.user = Ann();
    w.password_matches = true;
    const auto deps = FakeDeps(&w, auth::SigningKey::Generate());
    const auto outcome =
        co_await AttemptLogin(deps, "ann@example.com", "right password", "10.0.0.7");
    EXPECT_EQ(outcome.kind, Kind::kThrottled);
    EXPECT_EQ(outcome.retry_after, milliseconds(1500));
    EXPECT_EQ(w.attempts, std::vector<std::string>{"10.0.0.7 ann@example.com"});
    EXPECT_TRUE(w.looked_up.empty());
    EXPECT_TRUE(w.verified_against.empty());
    EXPECT_TRUE(w.issued_for.empty());
    EXPECT_TRUE(w.released.empty());  // refused attempts were never counted
}

KEEL_CORO_TEST(Login, AnUnknownAccountStillPaysForOneHashVerification) {
    World w;
    w.password_matches = true;  // whatever the hash says, there is no account
    const auto deps = FakeDeps(&w, auth::SigningKey::Generate());
    const auto outcome =
        co_await AttemptLogin(deps, "bob@example.com", "right password", "10.0.0.7");
    EXPECT_EQ(outcome.kind, Kind::kWrongCredentials);
    EXPECT_EQ(w.looked_up, std::vector<std::string>{"bob@example.com"});
    EXPECT_EQ(w.verified_against.size(), 1u);
    if (!w.verified_against.empty()) {
        EXPECT_EQ(w.verified_against[0], DummyPasswordHash());
        EXPECT_TRUE(w.verified_against[0].starts_with("$argon2id$"));
        EXPECT_NE(w.verified_on[0], std::this_thread::get_id());  // on the hashing pool
    }
    EXPECT_TRUE(w.issued_for.empty());
    EXPECT_EQ(outcome.tokens.access_token, "");
}

KEEL_CORO_TEST(Login, AWrongPasswordIssuesNothing) {
    World w;
    w.user = Ann();
    const auto deps = FakeDeps(&w, auth::SigningKey::Generate());
    const auto outcome =
        co_await AttemptLogin(deps, "ann@example.com", "wrong password", "10.0.0.7");
    EXPECT_EQ(outcome.kind, Kind::kWrongCredentials);
    EXPECT_EQ(w.verified_against, std::vector<std::string>{"$argon2id$ann"});
    EXPECT_TRUE(w.issued_for.empty());
    EXPECT_TRUE(w.released.empty());  // a failure stays counted
}

KEEL_CORO_TEST(Login, TheRightPasswordIssuesBothTokens) {
    World w;
    w.user = Ann();
    w.password_matches = true;
    const auto key = auth::SigningKey::Generate();
    const auto deps = FakeDeps(&w, key);
    const auto outcome =
        co_await AttemptLogin(deps, "ann@example.com", "right password", "10.0.0.7");
    EXPECT_EQ(outcome.kind, Kind::kSignedIn);
    EXPECT_EQ(w.released, std::vector<std::string>{"10.0.0.7 ann@example.com succeeded"});
    EXPECT_EQ(w.issued_for, std::vector<std::string>{kUserId});
    EXPECT_EQ(outcome.tokens.refresh_token, "refresh-" + kUserId);
    EXPECT_EQ(outcome.tokens.expires_in, std::chrono::seconds(900));
    auth::VerifyOptions options;
    options.issuer = "keel-auth";
    options.audience = "keel";
    const auth::KeySet keys = {{key.kid, key.public_key}};
    const auto verified = auth::VerifyJwt(outcome.tokens.access_token, keys, options);
    EXPECT_EQ(verified.error, auth::JwtError::kNone);
    if (verified.claims) {
        EXPECT_EQ(verified.claims->subject, kUserId);
        EXPECT_EQ(verified.claims->role, "admin");
        EXPECT_EQ(verified.claims->expires_at - verified.claims->issued_at, 900);
    }
}

KEEL_CORO_TEST(Login, AFullHashingPoolIsBusyAndTheAttemptGivenBack) {
    World w;
    w.user = Ann();
    w.password_matches = true;
    auto deps = FakeDeps(&w, auth::SigningKey::Generate());
    deps.hashing = std::make_shared<HashingPool>(1, 1);
    // Hold the pool's only slot until the login has been refused.
    std::atomic<bool> hold{true};
    auto block = [&hold] {
        while (hold.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return true;
    };
    auto ex = co_await asio::this_coro::executor;
    auto spawned = Start(ex, deps.hashing->Run(std::move(block)), std::make_shared<bool>());
    co_await testing::Sleep(milliseconds(20));
    const auto outcome =
        co_await AttemptLogin(deps, "ann@example.com", "right password", "10.0.0.7");
    hold = false;
    EXPECT_EQ(outcome.kind, Kind::kBusy);
    EXPECT_EQ(w.released, std::vector<std::string>{"10.0.0.7 ann@example.com unchecked"});
    EXPECT_TRUE(w.issued_for.empty());
    // Named lambdas: GCC 12 frees a capturing lambda temporary inside co_await twice.
    auto finished = [&spawned]() -> Task<bool> {
        co_return spawned.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    };
    const bool drained = co_await testing::WaitUntil(finished, std::chrono::seconds(5));
    EXPECT_TRUE(drained);
}

KEEL_CORO_TEST(Login, AFailingStoreGivesTheAttemptBackAndThrows) {
    World w;
    w.store_down = true;
    const auto deps = FakeDeps(&w, auth::SigningKey::Generate());
    bool threw = false;
    try {
        co_await AttemptLogin(deps, "ann@example.com", "right password", "10.0.0.7");
    } catch (const std::runtime_error&) {
        threw = true;
    }
    EXPECT_TRUE(threw);
    EXPECT_EQ(w.released, std::vector<std::string>{"10.0.0.7 ann@example.com unchecked"});
}

// Registration and login hash on pools of their own: with registration's saturated by real
// argon2id work, a login (real argon2id verification) is still served within about one hash.
KEEL_CORO_TEST(Login, IsServedWhileRegistrationHashingIsSaturated) {
    World w;
    auto stored = auth::HashPassword("right password");
    w.user = User{kUserId, "ann@example.com", stored, "user"};
    auto deps = FakeDeps(&w, auth::SigningKey::Generate());
    deps.verify_password = [](const std::string& hash, const std::string& password) {
        return auth::VerifyPassword(hash, password);
    };
    HashingPool registering(1, 6);
    auto ex = co_await asio::this_coro::executor;
    std::vector<std::future<void>> registrations;
    std::vector<std::shared_ptr<std::string>> hashes;
    for (int i = 0; i < 6; ++i) {
        auto hash = [i] { return auth::HashPassword("password " + std::to_string(i)); };
        hashes.push_back(std::make_shared<std::string>());
        registrations.push_back(Start(ex, registering.Run(std::move(hash)), hashes.back()));
    }
    co_await testing::Sleep(milliseconds(20));  // the jobs have taken their slots
    EXPECT_EQ(registering.Jobs(), 6u);
    // A seventh registration is refused at once rather than queued.
    bool refused = false;
    const auto asked = std::chrono::steady_clock::now();
    try {
        auto one_more = [] { return auth::HashPassword("one more"); };
        co_await registering.Run(std::move(one_more));
    } catch (const HashingBusyError&) {
        refused = true;
    }
    EXPECT_TRUE(refused);
    EXPECT_LT(std::chrono::steady_clock::now() - asked, milliseconds(50));

    const auto started = std::chrono::steady_clock::now();
    const auto outcome =
        co_await AttemptLogin(deps, "ann@example.com", "right password", "10.0.0.7");
    const auto took = std::chrono::steady_clock::now() - started;
    const auto left = registering.Jobs();
    EXPECT_EQ(outcome.kind, Kind::kSignedIn);
    // Had the login queued behind them, every registration would be done by now.
    EXPECT_GE(left, 3u) << "registrations left when the login was done";
    EXPECT_LT(took, std::chrono::seconds(2));
    auto idle = [&registering]() -> Task<bool> { co_return registering.Jobs() == 0; };
    const bool drained = co_await testing::WaitUntil(idle, std::chrono::seconds(30));
    EXPECT_TRUE(drained);
    for (std::size_t i = 0; i < registrations.size(); ++i) {
        auto ready = [&registrations, i]() -> Task<bool> {
            co_return registrations[i].wait_for(std::chrono::seconds(0)) ==
                std::future_status::ready;
        };
        const bool done = co_await testing::WaitUntil(ready, std::chrono::seconds(5));
        EXPECT_TRUE(done && hashes[i]->starts_with("$argon2id$"));
    }
}

}  // namespace
}  // namespace keel::auth_service
