#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

#include <keel/auth/jwt.hpp>
#include <keel/http/client.hpp>
#include <keel/http/router.hpp>

namespace keel::auth {

/// Verifies access tokens locally against a cached key set: no call to auth per
/// request. When a token names an unknown `kid` (keys rotated), the key set is
/// fetched again, at most once per `min_refetch` so that junk tokens cannot turn
/// into a flood of fetches. Thread-safe.
class JwtAuthenticator final : public http::Authenticator {
public:
    using Fetch = std::function<Task<KeySet>()>;

    JwtAuthenticator(Fetch fetch, VerifyOptions options,
                     std::chrono::milliseconds min_refetch = std::chrono::milliseconds(1000));

    Task<Outcome> Authenticate(std::string_view bearer_token) override;
    /// Fetches the key set now (start-up, periodic refresh). Throws what Fetch throws.
    Task<void> Refresh();

private:
    std::shared_ptr<const KeySet> Keys() const;

    Fetch fetch_;
    VerifyOptions options_;
    std::chrono::milliseconds min_refetch_;
    mutable std::mutex mutex_;
    std::shared_ptr<const KeySet> keys_;
    std::chrono::steady_clock::time_point last_fetch_{};
    bool fetching_ = false;  // a refetch is in flight: tokens with an unknown kid wait for it
};

/// GETs `url` and answers the response; how (plain client, or through a circuit breaker
/// and retries: keel::service::App's) is the caller's.
using HttpGet = std::function<Task<http::Response>(std::string url)>;

/// A Fetch that GETs a JWKS document from `url` with `get` and checks that it is a key set.
JwtAuthenticator::Fetch FetchJwksOverHttp(HttpGet get, std::string url);

}  // namespace keel::auth
