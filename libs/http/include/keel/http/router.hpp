#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <keel/core/ambient.hpp>
#include <keel/core/asio.hpp>
#include <keel/http/deadline.hpp>
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
/// Text it hands out as data (Param, Query, Header) is checked where it enters: valid
/// UTF-8 without NUL, else HttpError 400 naming the parameter (see RequireText).
class RequestContext final {
public:
    RequestContext(const Request& request, std::string request_id, std::string client_ip)
        : request_(request), request_id_(std::move(request_id)), client_ip_(std::move(client_ip)) {}

    const Request& Req() const { return request_; }
    const std::string& RequestId() const { return request_id_; }
    /// Client address: the TCP peer, or X-Real-IP / X-Forwarded-For when the peer is a
    /// trusted proxy (ServerOptions::trusted_proxies). Always a parsed IP address.
    const std::string& ClientIp() const { return client_ip_; }
    /// A percent-decoded `{name}` path parameter of the matched route ("" if absent).
    /// Throws HttpError 400 when it is not valid percent-encoding or UTF-8, or holds NUL.
    std::string_view Param(std::string_view name) const;
    /// A percent-decoded query parameter, nullopt when absent. Throws HttpError 400 when
    /// it is not valid percent-encoding or UTF-8, or holds NUL.
    std::optional<std::string> Query(std::string_view name) const;
    /// An integer query parameter in [min, max], `fallback` when absent; otherwise a
    /// 400 "<name> must be an integer from <min> to <max>".
    int QueryInt(std::string_view name, int fallback, int min, int max) const;
    /// A header value, nullopt when absent. Throws HttpError 400 when it is not valid
    /// UTF-8 (HTTP allows any byte from 0x80 up in values; NUL never passes the parser).
    std::optional<std::string_view> Header(std::string_view name) const;
    /// Set by the server for authenticated routes.
    const Principal* User() const { return principal_ ? &*principal_ : nullptr; }
    /// When the caller stops waiting: the caller's X-Request-Timeout-Ms from the request's
    /// arrival, capped by the server's own request timeout. Outgoing calls made for this
    /// request use at most the time left (keel::resilience::Downstream).
    SteadyTime Deadline() const { return deadline_; }
    void SetDeadline(SteadyTime deadline) { deadline_ = deadline; }
    /// This request's server span: its trace (the caller's `traceparent` continued when it
    /// is valid, else a new one), its own span id, and the request id as correlation id. The
    /// same context is current while the handler runs, so its log lines and outgoing calls
    /// carry it (keel/core/ambient.hpp). Empty when a test calls a handler directly.
    const ambient::Context& Trace() const;
    /// The caller's span id, "" when this request started its trace.
    const std::string& ParentSpanId() const { return parent_span_id_; }
    /// A traceparent naming this request's span ("" without one): events written while
    /// handling it carry it, so their consumers continue the trace from here.
    std::string Traceparent() const;
    void SetTraceForServer(std::shared_ptr<const ambient::Context> trace,
                           std::string parent_span_id) {
        trace_ = std::move(trace);
        parent_span_id_ = std::move(parent_span_id);
    }

    /// The matched route's parameters as they appear in the path (views into the
    /// route's pattern and the request target); decoded here, checked when read.
    void SetParamsForRouter(std::vector<std::pair<std::string_view, std::string_view>> params);
    void SetPrincipal(Principal principal) { principal_ = std::move(principal); }

private:
    struct PathParam {
        std::string_view name;
        std::string value;  ///< percent-decoded
        bool decoded = true;
    };

    const Request& request_;
    std::string request_id_;
    std::string client_ip_;
    std::vector<PathParam> params_;
    std::optional<Principal> principal_;
    SteadyTime deadline_ = SteadyTime::max();
    std::shared_ptr<const ambient::Context> trace_;
    std::string parent_span_id_;
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
