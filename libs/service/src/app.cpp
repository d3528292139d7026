#include <keel/service/app.hpp>

#include <unistd.h>

#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <cstdio>

#include <keel/auth/jwt_authenticator.hpp>
#include <keel/core/log.hpp>
#include <keel/service/build_info.hpp>
#include <keel/telemetry/metrics.hpp>

namespace keel::service {

CommonSettings ReadCommonSettings(core::EnvConfig& config, const std::string& service) {
    CommonSettings s;
    s.service = service;
    s.instance_id = config.String("INSTANCE_ID", service + "-" + std::to_string(::getpid()));
    s.host = config.String("HOST", "127.0.0.1");
    s.port = config.Port("PORT", 8080);
    s.io_threads = static_cast<std::size_t>(config.Int("IO_THREADS", 0, 0, 256));
    s.access_log = config.Bool("ACCESS_LOG", true);
    s.drain_timeout = config.Millis("DRAIN_TIMEOUT_MS", std::chrono::milliseconds(10'000));
    s.pg_dsn = config.Secret("PG_DSN");
    s.pg_pool_size = static_cast<std::size_t>(config.Int("PG_POOL_SIZE", 16, 1, 1000));
    // 0 turns a limit off; an hour is the most any of them may sensibly be.
    s.pg_statement_timeout = std::chrono::milliseconds(
        config.Int("PG_STATEMENT_TIMEOUT_MS", s.pg_statement_timeout.count(), 0, 3'600'000));
    s.pg_lock_timeout = std::chrono::milliseconds(
        config.Int("PG_LOCK_TIMEOUT_MS", s.pg_lock_timeout.count(), 0, 3'600'000));
    s.pg_idle_in_transaction_timeout = std::chrono::milliseconds(config.Int(
        "PG_IDLE_IN_TX_TIMEOUT_MS", s.pg_idle_in_transaction_timeout.count(), 0, 3'600'000));
    s.redis_host = config.String("REDIS_HOST", "127.0.0.1");
    s.redis_port = config.Port("REDIS_PORT", 6379);
    s.redis_password = config.Secret("REDIS_PASSWORD", "");
    s.service_token = config.Secret("KEEL_SERVICE_TOKEN");
    s.max_body_bytes =
        static_cast<std::size_t>(config.Int("MAX_BODY_BYTES", 1024 * 1024, 1024, 64 << 20));
    s.max_connections =
        static_cast<std::size_t>(config.Int("MAX_CONNECTIONS", 10'000, 1, 1'000'000));
    s.bus = bus::ReadBusSettings(config, service, s.instance_id);
    s.overload_control = config.OneOf("OVERLOAD_CONTROL", {"on", "off"}, "on") == "on";
    s.limiter.min_limit = static_cast<std::size_t>(config.Int("OVERLOAD_MIN_LIMIT", 8, 1, 100'000));
    s.limiter.max_limit =
        static_cast<std::size_t>(config.Int("OVERLOAD_MAX_LIMIT", 1000, 1, 100'000));
    s.limiter.initial_limit =
        static_cast<std::size_t>(config.Int("OVERLOAD_INITIAL_LIMIT", 64, 1, 100'000));
    if (s.limiter.min_limit > s.limiter.max_limit)
        config.AddProblem("OVERLOAD_MIN_LIMIT must not exceed OVERLOAD_MAX_LIMIT");
    s.limiter.initial_limit =
        std::clamp(s.limiter.initial_limit, s.limiter.min_limit, s.limiter.max_limit);
    s.breakers = config.OneOf("BREAKERS", {"on", "off"}, "on") == "on";
    s.traces = ReadTraceExportSettings(config, service);
    log::Level level = log::Level::kInfo;
    log::ParseLevel(config.OneOf("LOG_LEVEL", {"debug", "info", "warn", "error"}, "info"), level);
    log::Configure(service, s.instance_id, level);
    return s;
}

TokenSettings ReadTokenSettings(core::EnvConfig& config) {
    TokenSettings s;
    s.jwks_url = config.String("AUTH_JWKS_URL");
    s.verify.issuer = config.String("JWT_ISSUER", "keel-auth");
    s.verify.audience = config.String("JWT_AUDIENCE", "keel");
    return s;
}

std::shared_ptr<resilience::Downstream> App::Downstream(resilience::DownstreamOptions options) {
    if (!settings_.breakers) options.breaker.enabled = false;  // experiments compare without
    return std::make_shared<resilience::Downstream>(http_client_, std::move(options));
}

std::shared_ptr<http::Authenticator> App::TokenAuthenticator(const TokenSettings& settings) {
    resilience::DownstreamOptions jwks;
    jwks.name = "auth_jwks";
    jwks.timeout = std::chrono::milliseconds(2000);
    auto keys = Downstream(std::move(jwks));
    auth::HttpGet get = [keys](std::string url) -> Task<http::Response> {
        resilience::Downstream::Call call;
        call.url = std::move(url);
        call.idempotent = true;
        co_return co_await keys->Send(std::move(call));
    };
    auto authenticator = std::make_shared<auth::JwtAuthenticator>(
        auth::FetchJwksOverHttp(std::move(get), settings.jwks_url), settings.verify);
    Every(std::chrono::minutes(5), [authenticator] { return authenticator->Refresh(); });
    return authenticator;
}

App::App(CommonSettings settings) : settings_(std::move(settings)), runtime_(settings_.io_threads) {
    pg::PoolOptions pg_options;
    pg_options.dsn = settings_.pg_dsn;
    pg_options.max_size = settings_.pg_pool_size;
    pg_options.statement_timeout = settings_.pg_statement_timeout;
    pg_options.lock_timeout = settings_.pg_lock_timeout;
    pg_options.idle_in_transaction_timeout = settings_.pg_idle_in_transaction_timeout;
    pg_ = pg::Pool::Create(runtime_.Executor(), pg_options);
    redis::ClientOptions redis_options;
    redis_options.host = settings_.redis_host;
    redis_options.port = settings_.redis_port;
    redis_options.password = settings_.redis_password;
    redis_ = redis::Client::Create(runtime_.Executor(), redis_options);
    http_client_ = std::make_shared<http::Client>(runtime_.Executor());
    bus_ = bus::Bus::Create(runtime_.Executor(), pg_, settings_.bus);
    flush_spans_ = StartTraceExport(settings_.traces, runtime_.Executor(), http_client_,
                                    settings_.instance_id, Build().commit);
    telemetry::RegisterProcessMetrics(telemetry::DefaultRegistry(), settings_.service,
                                      Build().commit, Build().built);
}

void App::RunBeforeServing(Task<void> task) {
    auto& context = runtime_.Context();
    auto done = asio::co_spawn(context, std::move(task), asio::use_future);
    context.restart();
    while (done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) context.run_one();
    done.get();
}

void App::Every(std::chrono::milliseconds period, std::function<Task<void>()> task) {
    // Arguments, not captures: the coroutine outlives this lambda expression.
    auto loop = [](std::chrono::milliseconds every,
                   std::function<Task<void>()> work) -> Task<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        for (;;) {
            timer.expires_after(every);
            co_await timer.async_wait(asio::use_awaitable);
            try {
                co_await work();
            } catch (const std::exception& e) {
                log::Warn("periodic task failed", {{"error", e.what()}});
            }
        }
    };
    Spawn(runtime_.Executor(), loop(period, std::move(task)), "periodic task");
}

void App::StartBus() {
    RunBeforeServing(bus_->Start());
    bus_started_ = true;
}

void App::Migrate(std::span<const pg::Migration> migrations) {
    RunBeforeServing([](std::shared_ptr<pg::Pool> pool, std::span<const pg::Migration> list,
                        std::string service) -> Task<void> {
        co_await pg::Migrate(*pool, list, service);
    }(pg_, migrations, settings_.service));
}

int App::Serve(http::Router router, std::shared_ptr<http::Authenticator> authenticator) {
    http::ServerOptions options;
    options.host = settings_.host;
    options.port = settings_.port;
    options.service = settings_.service;
    options.access_log = settings_.access_log;
    options.drain_timeout = settings_.drain_timeout;
    options.service_token = settings_.service_token;
    options.max_body_bytes = settings_.max_body_bytes;
    options.max_connections = settings_.max_connections;
    http::ReadServerEnv(options);  // TRUSTED_PROXIES, HTTP_*_TIMEOUT_MS: see keel/http/server.hpp
    if (settings_.overload_control)
        options.admission = std::make_shared<resilience::AdaptiveLimiter>(settings_.limiter);
    http::Server server(runtime_.Context(), std::move(router), options, std::move(authenticator));
    std::shared_ptr<bus::Bus> bus = bus_started_ ? bus_ : nullptr;
    server.SetReadinessCheck([pg = pg_, redis = redis_, bus]() -> Task<bool> {
        if (bus && !bus->Healthy()) co_return false;
        const bool db = co_await pg->Ping();
        co_return db&& co_await redis->Ping();
    });
    server.Start();
    runtime_.OnShutdown([&server]() -> Task<void> { co_await server.Drain(); });
    // After the drain: requests in flight may still commit events for the relay.
    if (bus) runtime_.OnShutdown([bus]() -> Task<void> { co_await bus->Stop(); });
    // Last: the drain and the bus's stop end spans too.
    if (auto flush = flush_spans_) {
        runtime_.OnShutdown([flush]() -> Task<void> { co_await flush(std::chrono::seconds(5)); });
    }
    log::Info("listening", {{"port", static_cast<std::int64_t>(server.Port())},
                            {"io_threads", static_cast<std::int64_t>(runtime_.Threads())}});
    const int code = runtime_.Run();
    log::Info("stopped");
    return code;
}

bus::Origin RequestOrigin(const bus::Bus& bus, const http::RequestContext& req) {
    const auto& r = req.Req();
    std::string what(r.method_string());
    what += " ";
    what += std::string_view(r.target()).substr(0, std::string_view(r.target()).find('?'));
    return bus.FromRequest(req.RequestId(), req.Traceparent(), what);
}

int RunMain(int argc, char** argv, const std::string& service, int (*run)(core::EnvConfig&)) {
    // Configuration is the environment only; the one argument is for release tooling
    // (keel-stack, the release bot), which asks a binary what it is before running it.
    if (argc == 2 && std::string_view(argv[1]) == "--version") {
        std::printf("keel-%s %s built %s\n", service.c_str(), Build().commit, Build().built);
        return 0;
    }
    if (argc > 1) {
        std::fprintf(stderr,
                     "%s: unexpected argument '%s' (configuration comes from the "
                     "environment; the only option is --version)\n",
                     service.c_str(), argv[1]);
        return 2;
    }
    return RunMain(service, run);
}

int RunMain(const std::string& service, int (*run)(core::EnvConfig&)) {
    try {
        core::EnvConfig config;
        return run(config);
    } catch (const core::ConfigError& e) {
        std::fprintf(stderr, "%s: %s\n", service.c_str(), e.what());
        return 2;
    } catch (const std::exception& e) {
        log::Error("fatal start-up error", {{"error", e.what()}});
        std::fprintf(stderr, "%s: %s\n", service.c_str(), e.what());
        return 1;
    }
}

}  // namespace keel::service
