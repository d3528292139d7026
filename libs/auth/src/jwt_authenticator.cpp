#include <keel/auth/jwt_authenticator.hpp>

#include <boost/asio/steady_timer.hpp>

#include <keel/core/log.hpp>

namespace keel::auth {

JwtAuthenticator::JwtAuthenticator(Fetch fetch, VerifyOptions options,
                                   std::chrono::milliseconds min_refetch)
    : fetch_(std::move(fetch)),
      options_(std::move(options)),
      min_refetch_(min_refetch),
      keys_(std::make_shared<const KeySet>()) {}

std::shared_ptr<const KeySet> JwtAuthenticator::Keys() const {
    std::lock_guard lock(mutex_);
    return keys_;
}

Task<void> JwtAuthenticator::Refresh() {
    {
        std::lock_guard lock(mutex_);
        last_fetch_ = std::chrono::steady_clock::now();
        fetching_ = true;
    }
    std::shared_ptr<const KeySet> keys;
    std::exception_ptr error;
    try {
        keys = std::make_shared<const KeySet>(co_await fetch_());
    } catch (...) {
        error = std::current_exception();
    }
    std::lock_guard lock(mutex_);
    fetching_ = false;
    if (error) std::rethrow_exception(error);
    keys_ = std::move(keys);
}

Task<http::Authenticator::Outcome> JwtAuthenticator::Authenticate(std::string_view bearer_token) {
    const std::string token(bearer_token);
    auto verified = VerifyJwt(token, *Keys(), options_);
    if (verified.error == JwtError::kUnknownKey) {
        bool refetch = false;
        bool in_flight = false;
        {
            std::lock_guard lock(mutex_);
            in_flight = fetching_;
            refetch = !in_flight && std::chrono::steady_clock::now() - last_fetch_ >= min_refetch_;
        }
        if (in_flight) {
            // Another request is fetching the keys (e.g. the first burst after a start or
            // a rotation): wait for its answer rather than refuse a valid token.
            asio::steady_timer timer(co_await asio::this_coro::executor);
            for (int i = 0; i < 300 && in_flight; ++i) {
                timer.expires_after(std::chrono::milliseconds(10));
                co_await timer.async_wait(asio::use_awaitable);
                std::lock_guard lock(mutex_);
                in_flight = fetching_;
            }
            verified = VerifyJwt(token, *Keys(), options_);
        } else if (refetch) {
            try {
                co_await Refresh();
                verified = VerifyJwt(token, *Keys(), options_);
            } catch (const std::exception& e) {
                log::Warn("key set refetch failed", {{"error", e.what()}});
            }
        }
    }
    Outcome outcome;
    if (verified.claims) {
        outcome.principal = http::Principal{verified.claims->subject, verified.claims->role};
    } else {
        outcome.error = std::string(Describe(verified.error));
    }
    co_return outcome;
}

JwtAuthenticator::Fetch FetchJwksOverHttp(HttpGet get, std::string url) {
    return [get = std::move(get), url = std::move(url)]() -> Task<KeySet> {
        auto response = co_await get(url);
        if (response.result_int() != 200) {
            throw http::ClientError("JWKS fetch from " + url + " answered " +
                                    std::to_string(response.result_int()));
        }
        auto keys = ParseJwks(response.body());
        if (!keys) throw http::ClientError("JWKS from " + url + " is not a key set");
        co_return std::move(*keys);
    };
}

}  // namespace keel::auth
