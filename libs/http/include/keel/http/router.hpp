#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <keel/core/asio.hpp>
#include <keel/http/message.hpp>

namespace keel::http {

/// Who made a request, as established by an Authenticator.
struct Principal {
    std::string subject;  ///< user id (JWT `sub`) or service name
    std::string role;     ///< "user", "admin" or "service"
};

/// Who may call a route. kUser accepts any valid access token, kAdmin one with
/// role admin (403 otherwise), kService only the shared service token (/internal).
enum class Access { kPublic, kUser, kAdmin, kService };

/// Verifies bearer access tokens. Implemented by keel::auth (JWKS-backed); the
/// server calls it for kUser/kAdmin routes. Thread-safe implementations only.
class Authenticator {
public:
    virtual ~Authenticator() = default;
    /// The principal, or an error text for the 401 detail.
    struct Outcome {
        std::optional<Principal> principal;
        std::string error;
    };
    virtual Task<Outcome> Authenticate(std::string_view bearer_token) = 0;
};

/// What a handler sees of one request. Lives for the handler call.
class RequestContext final {
public:
    RequestContext(const Request& request, std::string request_id, std::string peer_ip)
        : request_(request), request_id_(std::move(request_id)), peer_ip_(std::move(peer_ip)) {}

    const Request& Req() const { return request_; }
    const std::string& RequestId() const { return request_id_; }
    /// Client address: X-Real-IP set by the gateway, else the TCP peer.
    const std::string& ClientIp() const { return peer_ip_; }
    /// A `{name}` path parameter of the matched route ("" if absent).
    std::string_view Param(std::string_view name) const;
    /// A percent-decoded query parameter, nullopt when absent.
    std::optional<std::string> Query(std::string_view name) const;
    /// An integer query parameter in [min, max], `fallback` when absent; otherwise a
    /// 400 "<name> must be an integer from <min> to <max>".
    int QueryInt(std::string_view name, int fallback, int min, int max) const;
    /// Set by the server for authenticated routes.
    const Principal* User() const { return principal_ ? &*principal_ : nullptr; }

    void SetParamsForRouter(std::vector<std::pair<std::string_view, std::string_view>> params) {
        params_ = std::move(params);
    }
    void SetPrincipal(Principal principal) { principal_ = std::move(principal); }

private:
    const Request& request_;
    std::string request_id_;
    std::string peer_ip_;
    std::vector<std::pair<std::string_view, std::string_view>> params_;
    std::optional<Principal> principal_;
};

using Handler = std::function<Task<Response>(RequestContext&)>;

/// A handler that is a plain function of a service's shared state and the request:
/// `router.Add(..., Bind(Register, ctx))`.
template <typename State>
Handler Bind(Task<Response> (*fn)(std::shared_ptr<State>, RequestContext&),
             std::shared_ptr<State> state) {
    return [fn, state = std::move(state)](RequestContext& req) { return fn(state, req); };
}

/// Maps method + path pattern (`/api/catalog/products/{id}`) to a handler.
/// Build it before the server starts; lookups are then read-only and thread-safe.
class Router final {
public:
    struct Route {
        Verb method;
        std::string pattern;  ///< also the `route` label in metrics
        Access access;
        Handler handler;
        std::vector<std::string> segments;
    };
    struct Match {
        const Route* route = nullptr;
        bool path_known = false;  ///< another method matches: 405, not 404
        std::string allow;        ///< methods that match the path, for the Allow header
    };

    void Add(Verb method, std::string pattern, Access access, Handler handler);
    /// Fills `params` (views into `path`) on a match.
    Match Find(Verb method, std::string_view path,
               std::vector<std::pair<std::string_view, std::string_view>>& params) const;
    const std::vector<Route>& Routes() const { return routes_; }

private:
    std::vector<Route> routes_;
};

/// Decodes %XX and '+' (query strings); nullopt on malformed escapes.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);

}  // namespace keel::http
