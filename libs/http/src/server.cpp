#include <keel/http/server.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <charconv>
#include <mutex>
#include <unordered_set>

#include <keel/core/ambient.hpp>
#include <keel/core/log.hpp>
#include <keel/core/runtime.hpp>
#include <keel/core/unavailable.hpp>
#include <keel/core/uuid.hpp>
#include <keel/telemetry/trace.hpp>

namespace keel::http {
namespace {

using tcp = asio::ip::tcp;
namespace beast = boost::beast;
using Clock = std::chrono::steady_clock;

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    return diff == 0;
}

std::string_view PathOf(std::string_view target) {
    const auto q = target.find('?');
    return q == std::string_view::npos ? target : target.substr(0, q);
}

// Label values come from fixed sets only, so that no request can add a series to
// /metrics: an invented method is "OTHER", a status outside HTTP's range "other".
std::string MethodLabel(Verb method) {
    switch (method) {
        case Verb::get:
        case Verb::head:
        case Verb::post:
        case Verb::put:
        case Verb::delete_:
        case Verb::patch:
        case Verb::options:
            return std::string(beast_http::to_string(method));
        default:
            return "OTHER";
    }
}

std::string StatusLabel(unsigned status) {
    return status >= 100 && status <= 599 ? std::to_string(status) : "other";
}

// The id travels into logs, response headers and event trails (Avro strings, PostgreSQL
// text): only a short run of visible ASCII is kept, anything else is replaced.
bool IsSaneRequestId(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    for (const unsigned char c : id) {
        if (c < 0x21 || c > 0x7e) return false;
    }
    return true;
}

// Headers every response carries; private ones are also kept out of shared caches.
void SetSafetyHeaders(Response& response, bool private_route) {
    response.set("X-Content-Type-Options", "nosniff");
    if (private_route && response.find(beast_http::field::cache_control) == response.end())
        response.set(beast_http::field::cache_control, "no-store");
}

// The metric series of one route, looked up once: the per-request path then touches
// atomics only, with no label strings built and no registry lock taken.
struct RouteSeries {
    std::string method;  ///< the route's method label
    telemetry::Histogram* duration = nullptr;
    std::array<std::atomic<telemetry::Counter*>, 600> by_status{};  ///< index: HTTP status
};

// How long a request waited between the gateway and this server (nginx's
// `X-Request-Start: t=<unix seconds with milliseconds>`), when a trusted proxy says so. The
// two clocks are one machine's natively and NTP-close in a cluster; a negative wait is 0.
std::chrono::nanoseconds QueuedFor(const Request& request, const asio::ip::address& peer,
                                   const std::vector<AddressRange>& trusted_proxies) {
    std::string_view start = request["X-Request-Start"];
    if (start.empty()) return {};
    bool trusted = false;
    for (const auto& range : trusted_proxies) trusted = trusted || range.Contains(peer);
    if (!trusted) return {};
    if (start.starts_with("t=")) start.remove_prefix(2);
    double seconds = 0;
    const auto* end = start.data() + start.size();
    const auto parsed = std::from_chars(start.data(), end, seconds);
    if (parsed.ec != std::errc() || parsed.ptr != end) return {};
    const auto now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
    const double waited = now.count() - seconds;
    if (!(waited > 0) || waited > 3600) return {};
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(waited));
}

// A caller's X-Request-Timeout-Ms: whole milliseconds, nothing else.
std::optional<long long> ParseTimeoutMs(std::string_view text) {
    long long value = 0;
    const auto* end = text.data() + text.size();
    const auto result = std::from_chars(text.data(), end, value);
    if (text.empty() || result.ec != std::errc() || result.ptr != end || value < 0)
        return std::nullopt;
    return value;
}

}  // namespace

using RequestParser = beast_http::request_parser<beast_http::string_body>;

// The peer went away or the session was cancelled: nothing to answer.
bool IsDisconnect(const boost::system::error_code& ec) {
    return ec == beast_http::error::end_of_stream || ec == asio::error::operation_aborted ||
           ec == beast::error::timeout || ec == asio::error::connection_reset ||
           ec == asio::error::eof || ec == asio::error::bad_descriptor;
}

// The answer to a request that could not be read (limits, malformed HTTP).
Response ReadFailure(const boost::system::error_code& ec, const ServerOptions& options) {
    if (ec == beast_http::error::body_limit)
        return Problem(Status::payload_too_large,
                       "request body exceeds " + std::to_string(options.max_body_bytes) + " bytes");
    if (ec == beast_http::error::header_limit)
        return Problem(Status::request_header_fields_too_large, "request headers are too large");
    return Problem(Status::bad_request, "malformed HTTP request: " + ec.message());
}

struct Server::Impl : std::enable_shared_from_this<Impl> {
    struct Session {
        beast::tcp_stream stream;
        std::atomic<bool> busy{false};
        explicit Session(tcp::socket socket) : stream(std::move(socket)) {}
    };

    Impl(asio::io_context& ctx, Router r, ServerOptions o, std::shared_ptr<Authenticator> a,
         telemetry::Registry& reg)
        : context(ctx),
          acceptor(asio::make_strand(ctx)),
          router(std::move(r)),
          options(std::move(o)),
          authenticator(std::move(a)),
          registry(reg),
          in_flight(reg.GetGauge("http_requests_in_flight", "Requests being handled now.")),
          connections(reg.GetGauge("http_connections", "Open client connections.")),
          rejected_connections(reg.GetCounter("http_connections_rejected_total",
                                              "Connections refused over the connection limit.")),
          shed(reg.GetCounter("http_requests_shed_total",
                              "Requests refused with 503 by overload control.")) {
        for (const auto& r : router.Routes())
            route_series.push_back(MakeSeries(r.pattern, r.method));
        for (const char* path : {"/healthz", "/readyz", "/metrics"})
            builtin_series.push_back(MakeSeries(path, Verb::get));
        if (auto admit = options.admission) {
            auto& limit = reg.GetGauge("http_concurrency_limit",
                                       "Requests overload control admits at once now.");
            auto& admitted = reg.GetGauge("http_requests_admitted",
                                          "Requests admitted by overload control and running.");
            reg.OnCollect([admit, &limit, &admitted] {
                limit.Set(static_cast<std::int64_t>(admit->Limit()));
                admitted.Set(static_cast<std::int64_t>(admit->InFlight()));
            });
        }
    }

    std::unique_ptr<RouteSeries> MakeSeries(const std::string& label, Verb method) {
        auto series = std::make_unique<RouteSeries>();
        series->method = MethodLabel(method);
        series->duration = &registry.GetHistogram("http_request_duration_seconds",
                                                  "Request latency by route.", {{"route", label}});
        return series;
    }

    asio::io_context& context;
    tcp::acceptor acceptor;
    Router router;
    ServerOptions options;
    std::shared_ptr<Authenticator> authenticator;
    telemetry::Registry& registry;
    telemetry::Gauge& in_flight;
    telemetry::Gauge& connections;
    telemetry::Counter& rejected_connections;
    telemetry::Counter& shed;
    std::vector<std::unique_ptr<RouteSeries>> route_series;    ///< by index in router.Routes()
    std::vector<std::unique_ptr<RouteSeries>> builtin_series;  ///< healthz, readyz, metrics
    std::function<Task<bool>()> readiness;
    std::atomic<bool> draining{false};
    std::atomic<std::int64_t> active_requests{0};
    std::mutex sessions_mutex;
    std::unordered_set<std::shared_ptr<Session>> sessions;

    Task<void> Accept();
    Task<void> Serve(std::shared_ptr<Session> session);
    Task<boost::system::error_code> ReadRequest(Session& session, beast::flat_buffer& buffer,
                                                RequestParser& parser,
                                                std::chrono::milliseconds first_byte_wait);
    // What the dispatch learnt about the route, for metrics and response headers.
    struct RouteInfo {
        std::string label = "unmatched";  ///< a route pattern, a builtin path or "unmatched"
        bool is_private = false;          ///< matched a route that is not Access::kPublic
        RouteSeries* series = nullptr;    ///< the matched route's (or builtin's) metrics
        Clock::time_point arrived;
        std::chrono::nanoseconds queued{0};  ///< before this server read it (X-Request-Start)
        bool admitted = false;               ///< holds a slot of options.admission
        Clock::time_point admitted_at;
        bool builtin = false;  ///< /healthz, /readyz, /metrics: no span is exported
    };

    Task<Response> Handle(const Request& request, asio::ip::address peer);
    Task<Response> DispatchMapped(RequestContext& ctx, RouteInfo& route);
    Task<void> DispatchInto(RequestContext& ctx, RouteInfo& route, Response& out);
    void EndSession(const std::shared_ptr<Session>& session);
    Task<Response> Dispatch(RequestContext& ctx, RouteInfo& route);
    Task<std::optional<Response>> Authorize(const Router::Route& route, RequestContext& ctx);
    Task<Response> Builtin(std::string_view path, bool& handled);
    void Record(const RequestContext& ctx, const Response& response, const RouteInfo& route,
                Clock::time_point started, std::chrono::system_clock::time_point started_wall);
    void RecordSpan(const RequestContext& ctx, unsigned status, const RouteInfo& route,
                    Clock::duration elapsed, std::chrono::system_clock::time_point started_wall);
    std::optional<Response> CheckDeadline(RequestContext& ctx, Clock::time_point arrived);
    void CloseIdleSessions(bool force);
};

Task<void> Server::Impl::Accept() {
    auto self = shared_from_this();
    while (acceptor.is_open()) {
        boost::system::error_code ec;
        tcp::socket socket = co_await acceptor.async_accept(
            asio::make_strand(context), asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) break;
            log::Warn("accept failed", {{"error", ec.message()}});
            continue;
        }
        socket.set_option(tcp::no_delay(true), ec);
        auto session = std::make_shared<Session>(std::move(socket));
        {
            std::lock_guard lock(sessions_mutex);
            if (sessions.size() >= options.max_connections) {
                rejected_connections.Inc();
                session->stream.socket().close(ec);
                continue;
            }
            sessions.insert(session);
        }
        connections.Add(1);
        auto executor = session->stream.get_executor();
        // Each request runs with its own ambient context (Handle); the session itself has
        // none, so that it never keeps the last request's after resuming inline.
        Spawn(ambient::With(executor, nullptr), Serve(session), "http session");
    }
}

Task<Response> Server::Impl::Builtin(std::string_view path, bool& handled) {
    handled = true;
    if (path == "/healthz") co_return JsonText(Status::ok, R"({"status":"ok"})");
    if (path == "/readyz") {
        if (draining.load()) co_return Problem(Status::service_unavailable, "draining");
        if (readiness && !co_await readiness()) {
            co_return Problem(Status::service_unavailable, "a dependency is unreachable");
        }
        co_return JsonText(Status::ok, R"({"status":"ready"})");
    }
    if (path == "/metrics") {
        Response response{Status::ok, 11};
        response.set(beast_http::field::content_type, "text/plain; version=0.0.4");
        response.body() = registry.Render();
        response.prepare_payload();
        co_return response;
    }
    handled = false;
    co_return Response{};
}

Task<std::optional<Response>> Server::Impl::Authorize(const Router::Route& route,
                                                      RequestContext& ctx) {
    const std::string_view prefix = "Bearer ";
    const auto header = ctx.Req()[beast_http::field::authorization];
    if (route.access == Access::kPublic) co_return std::nullopt;
    if (route.access == Access::kService) {
        if (options.service_token.empty() || !header.starts_with(prefix) ||
            !ConstantTimeEquals(header.substr(prefix.size()), options.service_token)) {
            co_return Problem(Status::unauthorized, "a service token is required");
        }
        ctx.SetPrincipal(Principal{"service", "service"});
        co_return std::nullopt;
    }
    if (!header.starts_with(prefix) || !authenticator) {
        Response r = Problem(Status::unauthorized, "a bearer access token is required");
        r.set(beast_http::field::www_authenticate, "Bearer");
        co_return r;
    }
    Authenticator::Outcome outcome =
        co_await authenticator->Authenticate(header.substr(prefix.size()));
    if (!outcome.principal) {
        Response r = Problem(Status::unauthorized, "invalid access token: " + outcome.error);
        r.set(beast_http::field::www_authenticate, R"(Bearer error="invalid_token")");
        co_return r;
    }
    if (route.access == Access::kAdmin && outcome.principal->role != "admin") {
        co_return Problem(Status::forbidden, "this operation needs the admin role");
    }
    ctx.SetPrincipal(std::move(*outcome.principal));
    co_return std::nullopt;
}

Task<Response> Server::Impl::Dispatch(RequestContext& ctx, RouteInfo& route) {
    const Request& request = ctx.Req();
    const std::string_view path = PathOf(request.target());
    if (request.method() == Verb::unknown) {
        co_return Problem(Status::not_implemented, "the request method is not supported");
    }
    if (request.method() == Verb::get) {
        bool handled = false;
        Response builtin = co_await Builtin(path, handled);
        if (handled) {
            route.label = std::string(path);  // one of three fixed paths
            route.builtin = true;
            route.series = builtin_series[path == "/healthz" ? 0 : path == "/readyz" ? 1 : 2].get();
            co_return builtin;
        }
    }
    std::vector<std::pair<std::string_view, std::string_view>> params;
    const auto match = router.Find(request.method(), path, params);
    if (!match.route) {
        if (match.path_known) {
            Response r =
                Problem(Status::method_not_allowed,
                        "method " + std::string(request.method_string()) + " is not allowed here");
            r.set(beast_http::field::allow, match.allow);
            co_return r;
        }
        co_return Problem(Status::not_found, "no route for " + std::string(path));
    }
    route.label = match.route->pattern;
    route.is_private = match.route->access != Access::kPublic;
    route.series =
        route_series[static_cast<std::size_t>(match.route - router.Routes().data())].get();
    std::optional<Response> expired = CheckDeadline(ctx, route.arrived);
    if (expired) co_return std::move(*expired);
    // Shed before authentication: verifying a token is work an overloaded server has not got.
    if (options.admission) {
        if (!options.admission->TryAcquire(route.queued)) {
            shed.Inc();
            Response r = Problem(Status::service_unavailable,
                                 "the server is overloaded; retry after the Retry-After seconds");
            r.set(beast_http::field::retry_after, std::to_string(options.shed_retry_after_s));
            co_return r;
        }
        route.admitted = true;
        route.admitted_at = Clock::now();
    }
    ctx.SetParamsForRouter(std::move(params));
    std::optional<Response> denied = co_await Authorize(*match.route, ctx);
    if (denied) co_return std::move(*denied);
    Response response = co_await match.route->handler(ctx);
    co_return response;
}

// The deadline of the request: the server's own request timeout from its arrival, or the
// caller's shorter budget. A caller that has already given up gets 504 without any work.
std::optional<Response> Server::Impl::CheckDeadline(RequestContext& ctx,
                                                    Clock::time_point arrived) {
    auto deadline = arrived + options.request_timeout;
    const auto given = ctx.Req()[kTimeoutHeader];
    if (!given.empty()) {
        const auto ms = ParseTimeoutMs(given);
        if (!ms)
            return Problem(Status::bad_request,
                           std::string(kTimeoutHeader) + " must be a whole number of milliseconds");
        if (*ms == 0)
            return Problem(Status::gateway_timeout, "the caller's deadline (" +
                                                        std::string(kTimeoutHeader) +
                                                        ") had passed when the request arrived");
        deadline = std::min(deadline, arrived + std::chrono::milliseconds(*ms));
    }
    ctx.SetDeadline(deadline);
    return std::nullopt;
}

void Server::Impl::Record(const RequestContext& ctx, const Response& response,
                          const RouteInfo& route, Clock::time_point started,
                          std::chrono::system_clock::time_point started_wall) {
    const Request& request = ctx.Req();
    const std::string& request_id = ctx.RequestId();
    const auto elapsed = Clock::now() - started;
    const double seconds = std::chrono::duration<double>(elapsed).count();
    const unsigned status = response.result_int();
    RouteSeries* series = route.series;
    if (series && status >= 100 && status < series->by_status.size()) {
        auto& slot = series->by_status[status];
        telemetry::Counter* counter = slot.load(std::memory_order_acquire);
        if (!counter) {  // first time this status: the registry gives the same series to racers
            counter = &registry.GetCounter("http_requests_total",
                                           "Requests served, by route, method and status.",
                                           {{"route", route.label},
                                            {"method", series->method},
                                            {"status", StatusLabel(status)}});
            slot.store(counter, std::memory_order_release);
        }
        counter->Inc();
        series->duration->Observe(seconds);
    } else {
        registry
            .GetCounter("http_requests_total", "Requests served, by route, method and status.",
                        {{"route", route.label},
                         {"method", MethodLabel(request.method())},
                         {"status", StatusLabel(status)}})
            .Inc();
        registry
            .GetHistogram("http_request_duration_seconds", "Request latency by route.",
                          {{"route", route.label}})
            .Observe(seconds);
    }
    RecordSpan(ctx, status, route, elapsed, started_wall);
}

// The access log line is the server span's record (docs/observability.md).
void Server::Impl::RecordSpan(const RequestContext& ctx, unsigned status, const RouteInfo& route,
                              Clock::duration elapsed,
                              std::chrono::system_clock::time_point started_wall) {
    const Request& request = ctx.Req();
    const std::string& request_id = ctx.RequestId();
    const double seconds = std::chrono::duration<double>(elapsed).count();
    const ambient::Context& trace = ctx.Trace();
    const std::string span = MethodLabel(request.method()) + " " + route.label;
    if (options.access_log && log::Enabled(log::Level::kInfo)) {
        log::Info("request", {{"request_id", request_id},
                              {"method", std::string_view(request.method_string())},
                              {"path", std::string_view(request.target())},
                              {"route", route.label},
                              {"status", static_cast<std::int64_t>(status)},
                              {"duration_ms", seconds * 1000.0},
                              {"span", span},
                              {"span_kind", "server"},
                              {"trace_id", trace.trace_id},
                              {"span_id", trace.span_id},
                              {"parent_span_id", ctx.ParentSpanId()},
                              {"correlation_id", trace.correlation_id}});
    }
    if (route.builtin || trace.trace_id.empty()) return;  // probes and scrapes: no spans
    telemetry::FinishedSpan finished;
    finished.name = span;
    finished.kind = telemetry::SpanKind::kServer;
    finished.trace_id = trace.trace_id;
    finished.span_id = trace.span_id;
    finished.parent_span_id = ctx.ParentSpanId();
    finished.start = started_wall;
    finished.duration = elapsed;
    finished.error = status >= 500;
    finished.attributes = {{"http.request.method", MethodLabel(request.method())},
                           {"http.route", route.label},
                           {"url.path", std::string(PathOf(request.target()))},
                           {"http.response.status_code", static_cast<std::int64_t>(status)},
                           {"keel.request_id", request_id}};
    telemetry::ExportSpan(std::move(finished), trace.sampled);
}

// Only the wait for a request's first byte may take `first_byte_wait` (the idle time
// between keep-alive requests). From that byte on the headers have header_timeout and
// then the body body_timeout, each a deadline for the whole part, not per read: a
// client that sends a byte a second is cut off all the same (slow loris).
Task<boost::system::error_code> Server::Impl::ReadRequest(
    Session& session, beast::flat_buffer& buffer, RequestParser& parser,
    std::chrono::milliseconds first_byte_wait) {
    boost::system::error_code ec;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(options.max_body_bytes);
    if (buffer.size() == 0) {  // else a pipelined request has begun already
        session.stream.expires_after(first_byte_wait);
        const std::size_t n = co_await session.stream.async_read_some(
            buffer.prepare(4096), asio::redirect_error(asio::use_awaitable, ec));
        buffer.commit(n);
        if (ec) co_return ec;
    }
    session.busy = true;
    session.stream.expires_after(options.header_timeout);
    co_await beast_http::async_read_header(session.stream, buffer, parser,
                                           asio::redirect_error(asio::use_awaitable, ec));
    if (!ec && !parser.is_done()) {
        session.stream.expires_after(options.body_timeout);
        co_await beast_http::async_read(session.stream, buffer, parser,
                                        asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return ec;
}

// Dispatch, with the failures that escape a handler mapped to problem+json in one place.
Task<Response> Server::Impl::DispatchMapped(RequestContext& ctx, RouteInfo& route) {
    const std::string& request_id = ctx.RequestId();
    try {
        co_return co_await Dispatch(ctx, route);
    } catch (const HttpError& e) {
        Response response = Problem(e.GetStatus(), e.Detail(), e.ExtraMembers());
        auto wait = e.RetryAfter();
        if (wait.count() <= 0 && e.GetStatus() == Status::service_unavailable)
            wait = std::chrono::seconds(1);
        if (wait.count() > 0)
            response.set(beast_http::field::retry_after, std::to_string(wait.count()));
        co_return response;
    } catch (const UnavailableError& e) {
        log::Warn("dependency unavailable", {{"request_id", request_id}, {"error", e.what()}});
        Response response =
            Problem(Status::service_unavailable, "a dependency is unavailable, retry later");
        response.set(beast_http::field::retry_after,
                     std::to_string(std::max<long long>(1, e.RetryAfter().count())));
        co_return response;
    } catch (const std::exception& e) {
        log::Error("handler failed",
                   {{"request_id", request_id}, {"route", route.label}, {"error", e.what()}});
        co_return Problem(Status::internal_server_error,
                          "internal error; see request " + request_id);
    }
}

Task<void> Server::Impl::DispatchInto(RequestContext& ctx, RouteInfo& route, Response& out) {
    out = co_await DispatchMapped(ctx, route);
}

namespace {

// The server span of a request: the caller's trace continued when its traceparent is valid
// (and single: two are as good as none), else a new trace; never an error.
std::shared_ptr<const ambient::Context> ServerSpan(const Request& request,
                                                   const std::string& request_id,
                                                   std::string& parent_span_id) {
    std::optional<telemetry::SpanContext> parent;
    if (request.count("traceparent") == 1)
        parent = telemetry::ParseTraceparent(request["traceparent"]);
    const telemetry::SpanContext span = telemetry::ChildOf(parent);
    parent_span_id = parent ? parent->span_id : std::string();
    return std::make_shared<const ambient::Context>(
        ambient::Context{span.trace_id, span.span_id, request_id, span.sampled});
}

}  // namespace

Task<Response> Server::Impl::Handle(const Request& request, asio::ip::address peer) {
    const auto started = Clock::now();
    const auto started_wall = std::chrono::system_clock::now();
    const auto given_id = request["X-Request-Id"];
    const std::string request_id =
        IsSaneRequestId(given_id) ? std::string(given_id) : RandomHex(16);
    std::string client = ClientAddress(peer, request["X-Real-IP"], request["X-Forwarded-For"],
                                       options.trusted_proxies);
    RouteInfo route;
    route.arrived = started;
    if (options.admission) route.queued = QueuedFor(request, peer, options.trusted_proxies);
    in_flight.Add(1);
    active_requests.fetch_add(1);
    RequestContext ctx(request, request_id, std::move(client));
    std::string parent_span_id;
    auto trace = ServerSpan(request, request_id, parent_span_id);
    ctx.SetTraceForServer(trace, std::move(parent_span_id));
    Response response;
    co_await ambient::Run(std::move(trace), DispatchInto(ctx, route, response));
    if (route.admitted) {
        // A 503/504 is a dependency's failure or a deadline, not this server's own latency.
        const unsigned status = response.result_int();
        options.admission->Release(Clock::now() - route.admitted_at,
                                   status != 503 && status != 504);
    }
    in_flight.Add(-1);
    active_requests.fetch_sub(1);
    response.set("X-Request-Id", request_id);
    SetSafetyHeaders(response, route.is_private);
    Record(ctx, response, route, started, started_wall);
    co_return response;
}

Task<void> Server::Impl::Serve(std::shared_ptr<Session> session) {
    auto self = shared_from_this();
    boost::system::error_code ec;
    const auto endpoint = session->stream.socket().remote_endpoint(ec);
    const asio::ip::address peer = ec ? asio::ip::address() : endpoint.address();
    beast::flat_buffer buffer;
    // A new connection gets only the header time for its first request: a client that
    // connects and says nothing must not hold a connection slot for the idle time.
    std::chrono::milliseconds first_byte_wait = options.header_timeout;
    for (;;) {
        RequestParser parser;
        ec = co_await ReadRequest(*session, buffer, parser, first_byte_wait);
        first_byte_wait = options.idle_timeout;
        if (IsDisconnect(ec)) break;
        session->busy = true;
        Response response;
        bool keep_alive = false;
        if (ec) {
            response = ReadFailure(ec, options);
            SetSafetyHeaders(response, false);
        } else {
            keep_alive = parser.get().keep_alive();
            response = co_await Handle(parser.get(), peer);
        }
        if (draining.load()) keep_alive = false;
        response.keep_alive(keep_alive);
        session->stream.expires_after(options.write_timeout);
        co_await beast_http::async_write(session->stream, response,
                                         asio::redirect_error(asio::use_awaitable, ec));
        session->busy = false;
        if (ec || !keep_alive) break;
    }
    EndSession(session);
}

void Server::Impl::EndSession(const std::shared_ptr<Session>& session) {
    boost::system::error_code ec;
    session->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    session->stream.socket().close(ec);
    {
        std::lock_guard lock(sessions_mutex);
        sessions.erase(session);
    }
    connections.Add(-1);
}

void Server::Impl::CloseIdleSessions(bool force) {
    std::vector<std::shared_ptr<Session>> targets;
    {
        std::lock_guard lock(sessions_mutex);
        for (const auto& s : sessions) {
            if (force || !s->busy.load()) targets.push_back(s);
        }
    }
    for (auto& s : targets) {
        asio::post(s->stream.get_executor(), [s, force] {
            // A busy session closes by itself after its response (draining => no keep-alive).
            if (force || !s->busy.load()) s->stream.cancel();
        });
    }
}

Server::Server(asio::io_context& context, Router router, ServerOptions options,
               std::shared_ptr<Authenticator> authenticator, telemetry::Registry& registry)
    : impl_(std::make_shared<Impl>(context, std::move(router), std::move(options),
                                   std::move(authenticator), registry)) {}

Server::~Server() {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
}

void Server::SetReadinessCheck(std::function<Task<bool>()> check) {
    impl_->readiness = std::move(check);
}

void Server::Start() {
    auto& acceptor = impl_->acceptor;
    const tcp::endpoint endpoint(asio::ip::make_address(impl_->options.host), impl_->options.port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(asio::socket_base::max_listen_connections);
    Spawn(acceptor.get_executor(), impl_->Accept(), "http accept loop");
}

std::uint16_t Server::Port() const { return impl_->acceptor.local_endpoint().port(); }

Task<void> Server::Drain() {
    auto impl = impl_;
    impl->draining = true;
    asio::post(impl->acceptor.get_executor(), [impl] {
        boost::system::error_code ec;
        impl->acceptor.close(ec);
    });
    const auto deadline = Clock::now() + impl->options.drain_timeout;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        impl->CloseIdleSessions(false);
        bool empty;
        {
            std::lock_guard lock(impl->sessions_mutex);
            empty = impl->sessions.empty();
        }
        if (empty || Clock::now() >= deadline) break;
        timer.expires_after(std::chrono::milliseconds(20));
        co_await timer.async_wait(asio::use_awaitable);
    }
    impl->CloseIdleSessions(true);
    log::Info("http server drained", {{"in_flight_left", impl->active_requests.load()}});
}

}  // namespace keel::http
