#include <thread>
#include <vector>

#include <keel/testing/coro_test.hpp>

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
    std::vector<std::string> attempts;  // "ip email"
    std::vector<std::string> looked_up;
    std::vector<std::string> verified_against;
    std::vector<std::thread::id> verified_on;
    std::vector<std::string> issued_for;
};

Task<milliseconds> CountAttempt(World* w, std::string ip, std::string email) {
    w->attempts.push_back(ip + " " + email);
    co_return w->wait;
}

Task<std::optional<User>> FindUser(World* w, std::string email) {
    w->looked_up.push_back(email);
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
    deps.count_attempt = [w](const std::string& ip, const std::string& email) {
        return CountAttempt(w, ip, email);
    };
    deps.find_user = [w](const std::string& email) { return FindUser(w, email); };
    deps.verify_password = [w](const std::string& hash, const std::string& password) {
        w->verified_against.push_back(hash);
        w->verified_on.push_back(std::this_thread::get_id());
        return w->password_matches && password == "right password";
    };
    deps.issue_refresh_token = [w](const std::string& id) { return IssueRefreshToken(w, id); };
    deps.signing_key = [key] { return key; };
    deps.hashing = std::make_shared<asio::thread_pool>(1);
    deps.settings = TestSettings();
    return deps;
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

}  // namespace
}  // namespace keel::auth_service
