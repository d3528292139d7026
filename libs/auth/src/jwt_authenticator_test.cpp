#include <keel/auth/jwt_authenticator.hpp>

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>

#include <chrono>

#include <keel/core/runtime.hpp>
#include <keel/testing/coro_test.hpp>

namespace keel::auth {
namespace {

Claims Valid() {
    Claims c;
    c.subject = "0190a0b0-0000-7000-8000-000000000001";
    c.role = "user";
    c.issuer = "keel-auth";
    c.audience = "keel";
    c.id = "jti-1";
    c.issued_at = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    c.not_before = c.issued_at;
    c.expires_at = c.issued_at + 900;
    return c;
}

KEEL_CORO_TEST(JwtAuthenticator, ABurstWithANewKeyWaitsForOneFetch) {
    // Ten requests arrive together with a token signed by a key the service has not
    // fetched yet (the first burst after a start): one fetch, every token accepted.
    static const SigningKey key = SigningKey::Generate();
    static int fetches = 0;
    JwtAuthenticator::Fetch fetch = []() -> Task<KeySet> {
        ++fetches;
        asio::steady_timer slow(co_await asio::this_coro::executor);
        slow.expires_after(std::chrono::milliseconds(50));
        co_await slow.async_wait(asio::use_awaitable);
        KeySet keys{{key.kid, key.public_key}};
        co_return keys;
    };
    VerifyOptions options;
    options.issuer = "keel-auth";
    options.audience = "keel";
    auto authenticator = std::make_shared<JwtAuthenticator>(fetch, options);
    const std::string token = SignJwt(Valid(), key);
    int accepted = 0, done = 0;
    auto one = [](std::shared_ptr<JwtAuthenticator> a, std::string t, int* ok,
                  int* finished) -> Task<void> {
        auto outcome = co_await a->Authenticate(t);
        if (outcome.principal) ++*ok;
        ++*finished;
    };
    const auto executor = co_await asio::this_coro::executor;
    for (int i = 0; i < 10; ++i)
        Spawn(executor, one(authenticator, token, &accepted, &done), "authenticate");
    asio::steady_timer wait(executor);
    for (int i = 0; i < 200 && done < 10; ++i) {
        wait.expires_after(std::chrono::milliseconds(10));
        co_await wait.async_wait(asio::use_awaitable);
    }
    EXPECT_EQ(done, 10);
    EXPECT_EQ(accepted, 10);
    EXPECT_EQ(fetches, 1);
}

}  // namespace
}  // namespace keel::auth
