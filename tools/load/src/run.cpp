#include "run.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <thread>

#include "arrival_schedule.hpp"

namespace keel::load {

namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;

constexpr std::array<std::string_view, 10> kSearchTerms = {
    "keel", "mug", "shirt", "hoodie", "pen", "note", "bottle", "cap", "sticker", "nothing-like-it"};

double CpuSeconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

Clock::duration Seconds(double s) {
    return duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

struct Shared {
    explicit Shared(const World& w) : world(w), options(w.options) {}
    const World& world;
    const Options& options;
    Clock::time_point t0, measure_from, end;
    std::vector<std::unique_ptr<asio::io_context>> ios;
    std::vector<std::unique_ptr<Recorder>> recorders;
    std::chrono::milliseconds timeout;
    RunResult result;
    double cpu_start = 0;
    bool progress = false;
    std::atomic<std::uint64_t> order_user{0};
};

// One virtual user's or one open-loop connection's state: reused for every request.
struct Shopper {
    Shopper(asio::any_io_executor executor, Shared& s, std::uint64_t seed)
        : shared(s), connection(executor, s.world.gateway), rng(seed), pause(executor) {
        path.reserve(256);
        headers.reserve(1024);
        body.reserve(256);
    }
    Shared& shared;
    HttpConnection connection;
    Response response;
    std::mt19937_64 rng;
    asio::steady_timer pause;
    std::string path, headers, body;
    std::string order_id;
};

const std::string& Pick(std::mt19937_64& rng, const std::vector<std::string>& from) {
    return from[rng() % from.size()];
}

// One request, recorded for `step`; latency from `since` (the send time, or in an open loop
// the time the request was due).
asio::awaitable<void> Send(Shopper& s, Recorder& recorder, Step step, std::string_view method,
                           Clock::time_point since) {
    recorder.in_flight.fetch_add(1, std::memory_order_relaxed);
    co_await s.connection.Request(method, s.path, s.headers, s.body, s.shared.timeout, s.response);
    recorder.in_flight.fetch_sub(1, std::memory_order_relaxed);
    const auto latency = duration_cast<microseconds>(Clock::now() - since).count();
    recorder.Record(step, s.response,
                    static_cast<std::uint64_t>(std::max<std::int64_t>(latency, 0)));
}

void PrepareGet(Shopper& s, Step step) {
    const World& world = s.shared.world;
    s.headers.clear();
    s.body.clear();
    switch (step) {
        case Step::kList:
            s.path = "/api/catalog/products?limit=20";
            break;
        case Step::kSearch:
            s.path = "/api/catalog/products?limit=20&q=";
            s.path += kSearchTerms[s.rng() % kSearchTerms.size()];
            break;
        case Step::kProduct:
            s.path = "/api/catalog/products/" + Pick(s.rng, world.products);
            break;
        case Step::kRecs:
            s.path = "/api/recommendations/products/" + Pick(s.rng, world.products) + "?limit=10";
            break;
        default:
            break;
    }
}

void PrepareOrder(Shopper& s, const User& user) {
    static constexpr char kHex[] = "0123456789abcdef";
    s.path = "/api/orders";
    s.headers = "Authorization: Bearer " + user.token + "\r\nIdempotency-Key: ";
    for (int i = 0; i < 2; ++i) {
        const std::uint64_t r = s.rng();
        for (int b = 0; b < 16; ++b) s.headers += kHex[(r >> (b * 4)) & 15];
    }
    s.headers += "\r\n";
    s.body = R"({"items":[{"product_id":")" + Pick(s.rng, s.shared.world.order_products) +
             R"(","quantity":1}]})";
}

std::string_view OrderId(const std::string& body) {
    constexpr std::string_view kKey = R"("id":")";
    const auto at = body.find(kKey);
    if (at == std::string::npos || at + kKey.size() + 36 > body.size()) return {};
    return std::string_view(body).substr(at + kKey.size(), 36);
}

// Places an order as `user` and polls it until it is final (closed loop) or not (poll = false).
asio::awaitable<void> Order(Shopper& s, Recorder& recorder, const User& user,
                            Clock::time_point since, bool poll) {
    PrepareOrder(s, user);
    const auto placed_at = Clock::now();
    co_await Send(s, recorder, Step::kOrder, "POST", since);
    if (!poll || s.response.outcome != Outcome::kResponse || s.response.status >= 300) co_return;
    s.order_id = OrderId(s.response.body);
    if (s.order_id.empty()) co_return;
    s.path = "/api/orders/" + s.order_id;
    s.body.clear();
    s.headers = "Authorization: Bearer " + user.token + "\r\n";
    const auto give_up = placed_at + Seconds(s.shared.options.order_timeout_s);
    for (;;) {
        s.pause.expires_after(duration_cast<Clock::duration>(
            std::chrono::duration<double, std::milli>(s.shared.options.poll_ms)));
        co_await s.pause.async_wait(kAwait);
        if (Clock::now() >= s.shared.end) co_return;
        co_await Send(s, recorder, Step::kOrderPoll, "GET", Clock::now());
        const std::string& body = s.response.body;
        const bool confirmed = body.find(R"("status":"CONFIRMED")") != std::string::npos;
        const bool cancelled = body.find(R"("status":"CANCELLED")") != std::string::npos;
        if (s.response.status == 200 && (confirmed || cancelled)) {
            const auto took = duration_cast<microseconds>(Clock::now() - placed_at).count();
            recorder.RecordOrderFinal(confirmed, static_cast<std::uint64_t>(took));
            co_return;
        }
        if (Clock::now() >= give_up) {
            recorder.RecordOrderUnfinished();
            co_return;
        }
    }
}

asio::awaitable<void> DoStep(Shopper& s, Recorder& recorder, Step step, const User* user,
                             Clock::time_point since, bool poll) {
    if (step == Step::kOrder) {
        if (user) co_await Order(s, recorder, *user, since, poll);
        co_return;
    }
    PrepareGet(s, step);
    co_await Send(s, recorder, step, "GET", since);
}

asio::awaitable<void> VirtualUser(Shared& shared, std::size_t index, std::size_t thread) {
    const Options& o = shared.options;
    Recorder& recorder = *shared.recorders[thread];
    Shopper s(co_await asio::this_coro::executor, shared, 0x9e3779b97f4a7c15ull * (index + 1));
    const User* user = shared.world.users.empty()
                           ? nullptr
                           : &shared.world.users[index % shared.world.users.size()];
    s.pause.expires_at(shared.t0 + Seconds(o.ramp_s * index / std::max<std::uint32_t>(o.users, 1)));
    co_await s.pause.async_wait(kAwait);
    recorder.users.fetch_add(1, std::memory_order_relaxed);
    const std::uint32_t total = o.mix.Total();
    std::uniform_real_distribution<double> jitter(1 - o.think_jitter, 1 + o.think_jitter);
    while (Clock::now() < shared.end) {
        const Step step = o.mix.Pick(static_cast<std::uint32_t>(s.rng() % total));
        co_await DoStep(s, recorder, step, user, Clock::now(), true);
        const double think = o.think_ms * jitter(s.rng);
        s.pause.expires_after(
            duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(think)));
        co_await s.pause.async_wait(kAwait);
    }
    recorder.users.fetch_sub(1, std::memory_order_relaxed);
    s.connection.Close();
}

asio::awaitable<void> Arrivals(Shared& shared, ArrivalSchedule& schedule, std::size_t worker,
                               std::size_t thread) {
    const Options& o = shared.options;
    Recorder& recorder = *shared.recorders[thread];
    Shopper s(co_await asio::this_coro::executor, shared, 0x2545f4914f6cdd1dull * (worker + 1));
    const std::uint32_t total = o.mix.Total();
    for (;;) {
        const auto now = Clock::now();
        // Past the end nothing more is sent, not even slots still owed (counted as unsent).
        if (now >= shared.end) break;
        const auto in_flight =
            static_cast<std::uint64_t>(std::max<std::int64_t>(recorder.in_flight.load(), 0));
        const auto claim = schedule.Next(now - shared.t0, in_flight);
        recorder.RecordDropped(claim.dropped);
        if (claim.kind == ArrivalSchedule::Claim::Kind::kDone) break;
        const auto due = shared.t0 + duration_cast<Clock::duration>(claim.due);
        if (due > now) {
            s.pause.expires_at(due);
            co_await s.pause.async_wait(kAwait);
        }
        if (o.scenario == Scenario::kStatic) {
            s.path = o.path;
            s.headers.clear();
            s.body.clear();
            co_await Send(s, recorder, Step::kStatic, "GET", due);
        } else if (o.scenario == Scenario::kProduct) {
            s.path = "/api/catalog/products/" + shared.world.products.front();
            s.headers.clear();
            s.body.clear();
            co_await Send(s, recorder, Step::kProduct, "GET", due);
        } else {
            const Step step = o.mix.Pick(static_cast<std::uint32_t>(s.rng() % total));
            const auto& users = shared.world.users;
            const User* user =
                users.empty() ? nullptr : &users[shared.order_user.fetch_add(1) % users.size()];
            co_await DoStep(s, recorder, step, user, due, false);
        }
    }
    s.connection.Close();
}

void PrintProgress(const TimelineRow& row) {
    std::fprintf(stderr,
                 "%6.0fs %8.0f rps  ok %-8llu err %-6llu p50 %8.2f ms  p99 %8.2f ms  users %-5lld "
                 "in-flight %lld\n",
                 row.t, row.rps, static_cast<unsigned long long>(row.ok),
                 static_cast<unsigned long long>(row.errors), row.p50_ms, row.p99_ms,
                 static_cast<long long>(row.users), static_cast<long long>(row.in_flight));
}

void CloseSecond(Shared& shared, double t, double length_s) {
    Totals second;
    TimelineRow row;
    for (auto& r : shared.recorders) {
        r->TakeSecond(second);
        row.in_flight += r->in_flight.load();
        row.users += r->users.load();
    }
    row.t = t;
    row.rps = length_s > 0 ? second.requests / length_s : 0;
    row.ok = second.ok;
    row.errors = second.ErrorCount();
    row.p50_ms = second.latency.Percentile(50) / 1000.0;
    row.p99_ms = second.latency.Percentile(99) / 1000.0;
    row.shed = second.shed.Count();
    if (row.shed > 0) row.shed_p99_ms = second.shed.Percentile(99) / 1000.0;
    shared.result.timeline.push_back(row);
    if (shared.progress) PrintProgress(row);
}

asio::awaitable<void> Reporter(Shared& shared) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    if (shared.progress && shared.measure_from > shared.t0)
        std::fprintf(stderr, "warming up for %.1fs\n", shared.options.warmup_s);
    timer.expires_at(shared.measure_from);
    co_await timer.async_wait(kAwait);
    if (shared.measure_from > shared.t0) {
        for (auto& r : shared.recorders) r->StartMeasuring();
        shared.cpu_start = CpuSeconds();
    }
    const double duration = shared.options.duration_s;
    for (int second = 1;; ++second) {
        const double t = std::min<double>(second, duration);
        timer.expires_at(shared.measure_from + Seconds(t));
        co_await timer.async_wait(kAwait);
        CloseSecond(shared, t, t - (second - 1));
        if (t >= duration) break;
    }
    // Requests sent in the window still count when they are answered a little after it, so the
    // totals match what the servers counted; wait for them (at most one request timeout).
    const auto drain_until = Clock::now() + shared.timeout;
    while (Clock::now() < drain_until) {
        std::int64_t in_flight = 0;
        for (auto& r : shared.recorders) in_flight += r->in_flight.load();
        if (in_flight <= 0) break;
        timer.expires_after(std::chrono::milliseconds(2));
        co_await timer.async_wait(kAwait);
    }
    for (auto& r : shared.recorders) r->StopMeasuring();
    shared.result.cpu_s = CpuSeconds() - shared.cpu_start;
    shared.result.measured_s = duration;
    auto& res = shared.result;
    for (auto& r : shared.recorders)
        r->MergeTotalsInto(res.totals, res.steps, res.order_final, res.order_outcomes);
    for (auto& io : shared.ios) io->stop();
}

void Crash(std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& error) {
        // A bug, not a network failure (those are outcomes): stop loudly rather than under-count.
        std::fprintf(stderr, "keel-load: internal error: %s\n", error.what());
        std::_Exit(3);
    }
}

}  // namespace

RunResult Run(const World& world) {
    const Options& o = world.options;
    Shared shared(world);
    shared.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_s * 1000));
    shared.progress = o.progress.value_or(isatty(STDERR_FILENO) != 0) && !o.quiet;
    const std::size_t threads = static_cast<std::size_t>(std::max(1, o.threads));
    for (std::size_t i = 0; i < threads; ++i) {
        shared.ios.push_back(std::make_unique<asio::io_context>(1));
        shared.recorders.push_back(std::make_unique<Recorder>());
    }
    shared.t0 = Clock::now();
    shared.measure_from = shared.t0 + Seconds(o.warmup_s);
    shared.end = shared.measure_from + Seconds(o.duration_s);

    if (o.warmup_s <= 0) {  // the first requests may be answered before the reporter runs
        for (auto& r : shared.recorders) r->StartMeasuring();
        shared.cpu_start = CpuSeconds();
    }
    std::vector<std::unique_ptr<ArrivalSchedule>> schedules;
    if (o.mode == Mode::kClosed) {
        for (std::size_t i = 0; i < o.users; ++i)
            asio::co_spawn(*shared.ios[i % threads], VirtualUser(shared, i, i % threads), Crash);
    } else {
        const auto end =
            std::chrono::duration_cast<std::chrono::nanoseconds>(shared.end - shared.t0);
        for (std::size_t t = 0; t < threads; ++t) {
            // thread t takes every threads-th slot of the whole schedule
            const auto offset =
                std::chrono::nanoseconds(static_cast<std::int64_t>(t * 1e9 / o.rate));
            schedules.push_back(std::make_unique<ArrivalSchedule>(o.rate / threads, offset, end,
                                                                  o.max_in_flight / threads));
        }
        for (std::size_t c = 0; c < std::max<std::uint32_t>(o.connections, 1); ++c)
            asio::co_spawn(*shared.ios[c % threads],
                           Arrivals(shared, *schedules[c % threads], c, c % threads), Crash);
    }
    asio::co_spawn(*shared.ios[0], Reporter(shared), Crash);

    std::vector<std::thread> workers;
    for (std::size_t i = 1; i < threads; ++i)
        workers.emplace_back([&shared, i] { shared.ios[i]->run(); });
    shared.ios[0]->run();
    for (auto& io : shared.ios) io->stop();
    for (auto& w : workers) w.join();
    RunResult result = std::move(shared.result);
    const auto window =
        std::chrono::duration_cast<std::chrono::nanoseconds>(shared.end - shared.t0);
    for (const auto& schedule : schedules) {
        const std::uint64_t due = schedule->DueBy(window - std::chrono::nanoseconds(1));
        result.unsent += due > schedule->Claimed() ? due - schedule->Claimed() : 0;
    }
    shared.ios.clear();  // pending coroutines (users mid-request) end here, before `shared` goes
    return result;
}

}  // namespace keel::load
