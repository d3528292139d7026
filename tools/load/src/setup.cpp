#include "setup.hpp"

#include <boost/json.hpp>
#include <chrono>
#include <random>
#include <stdexcept>

namespace keel::load {

namespace json = boost::json;

namespace {

std::string JsonField(const std::string& body, const char* name) {
    boost::system::error_code ec;
    const auto doc = json::parse(body, ec);
    if (ec || !doc.is_object()) return {};
    const auto* v = doc.as_object().if_contains(name);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string RandomHex(std::mt19937_64& rng, int bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < bytes; ++i) {
        const auto b = static_cast<unsigned>(rng() & 0xff);
        out += kHex[b >> 4];
        out += kHex[b & 15];
    }
    return out;
}

struct SetupContext {
    const Options& options;
    const Target& gateway;
    const Target* internal;
    std::vector<User>& users;
    std::vector<bool> keep;
    std::int64_t valid_until;
    std::size_t first_new;
    std::size_t next = 0;
    std::mt19937_64 rng{std::random_device{}()};
    SetupReport report;
};

// A source address per user on a loopback target: nginx limits logins per client address
// (10/s), auth limits registrations per address; 250 addresses keep setup under both.
std::optional<asio::ip::address> SourceFor(const SetupContext& c, std::size_t index) {
    const auto address = c.gateway.endpoint.address();
    if (!c.options.spread_sources || !address.is_v4() || !address.is_loopback())
        return std::nullopt;
    return asio::ip::address_v4(0x7f000002u + static_cast<std::uint32_t>(index % 250));
}

// One call, retried while the answer says "later" (429, 503) or the network failed.
asio::awaitable<bool> Call(SetupContext& c, HttpConnection& conn, std::string_view method,
                           std::string path, std::string headers, std::string body,
                           unsigned expected, Histogram& latency, Response& out) {
    asio::steady_timer pause(co_await asio::this_coro::executor);
    const auto timeout = std::chrono::milliseconds(static_cast<int>(c.options.timeout_s * 1000));
    for (int attempt = 0; attempt < 30; ++attempt) {
        const auto start = Clock::now();
        co_await conn.Request(method, path, headers, body, timeout, out);
        if (out.outcome == Outcome::kResponse && out.status == expected) {
            latency.Record(
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start)
                    .count());
            co_return true;
        }
        const bool later =
            out.outcome != Outcome::kResponse || out.status == 429 || out.status >= 502;
        if (!later) break;
        ++c.report.retries;
        const int ms = std::min(100 << std::min(attempt, 4), 2000);
        pause.expires_after(
            std::chrono::milliseconds(ms / 2 + static_cast<int>(c.rng() % (ms / 2 + 1))));
        co_await pause.async_wait(kAwait);
    }
    if (c.report.first_error.empty())
        c.report.first_error =
            std::string(method) + " " + path + ": " +
            (out.outcome == Outcome::kResponse
                 ? "HTTP " + std::to_string(out.status) + " " + out.body.substr(0, 200)
                 : "no answer");
    co_return false;
}

asio::awaitable<bool> PrepareUser(SetupContext& c, std::size_t index) {
    User& user = c.users[index];
    const bool is_new = user.id.empty();
    auto executor = co_await asio::this_coro::executor;
    HttpConnection conn(executor, c.gateway, SourceFor(c, index));
    Response r;
    if (is_new) {
        const std::string body =
            json::serialize(json::object{{"email", user.email}, {"password", user.password}});
        if (!co_await Call(c, conn, "POST", "/api/auth/register", "", body, 201,
                           c.report.register_ms, r))
            co_return false;
        user.id = JsonField(r.body, "user_id");
        if (user.id.empty()) co_return false;
    }
    if (user.token.empty() || TokenExpiry(user.token) < c.valid_until) {
        const std::string body =
            json::serialize(json::object{{"email", user.email}, {"password", user.password}});
        if (!co_await Call(c, conn, "POST", "/api/auth/login", "", body, 200, c.report.login_ms, r))
            co_return false;
        user.token = JsonField(r.body, "access_token");
        if (user.token.empty()) co_return false;
        if (!is_new) ++c.report.logged_in;
    }
    if (is_new && c.internal && !c.options.service_token.empty()) {
        HttpConnection internal(executor, *c.internal);
        const std::string headers = "Authorization: Bearer " + c.options.service_token +
                                    "\r\nIdempotency-Key: keel-load-fund-" + user.id + "\r\n";
        const std::string body = json::serialize(json::object{{"amount", c.options.fund_amount}});
        const std::string path = "/payments/internal/wallets/" + user.id + "/top-up";
        if (!co_await Call(c, internal, "POST", path, headers, body, 200, c.report.fund_ms, r))
            co_return false;
    }
    co_return true;
}

asio::awaitable<void> SetupWorker(SetupContext& c) {
    while (c.next < c.users.size()) {
        const std::size_t index = c.next++;
        const bool ok = co_await PrepareUser(c, index);
        c.keep[index] = ok;
        if (!ok) ++c.report.failed;
    }
}

}  // namespace

std::vector<std::string> DiscoverProducts(const Target& gateway, double timeout_s) {
    asio::io_context io;
    Response r;
    auto fetch = [&]() -> asio::awaitable<void> {
        HttpConnection conn(io.get_executor(), gateway);
        const auto timeout = std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
        co_await conn.Request("GET", "/api/catalog/products?limit=100", "", "", timeout, r);
    };
    std::exception_ptr failure;
    asio::co_spawn(io, fetch, [&failure](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure) std::rethrow_exception(failure);
    if (r.outcome != Outcome::kResponse || r.status != 200)
        throw std::runtime_error("cannot list products (GET /api/catalog/products): " +
                                 (r.outcome == Outcome::kResponse
                                      ? "HTTP " + std::to_string(r.status)
                                      : std::string("no answer")));
    std::vector<std::string> ids;
    boost::system::error_code ec;
    const auto doc = json::parse(r.body, ec);
    if (!ec && doc.is_object())
        if (const auto* items = doc.as_object().if_contains("items"); items && items->is_array())
            for (const auto& item : items->as_array())
                if (const auto* id =
                        item.is_object() ? item.as_object().if_contains("id") : nullptr;
                    id && id->is_string())
                    ids.emplace_back(id->as_string());
    if (ids.empty()) throw std::runtime_error("the catalog has no products to ask for");
    return ids;
}

SetupReport SetupUsers(const Options& options, const Target& gateway, const Target* internal,
                       std::vector<User>& users, std::int64_t valid_until_epoch_s) {
    SetupContext c{options, gateway, internal, users, {}, valid_until_epoch_s, users.size()};
    const std::string run = RandomHex(c.rng, 4);
    for (std::uint32_t i = 0; i < options.setup_users; ++i)
        users.push_back(User{"", "load-" + run + "-" + std::to_string(i) + "@example.com",
                             "load-" + RandomHex(c.rng, 8), ""});
    c.keep.assign(users.size(), false);
    const auto start = Clock::now();
    asio::io_context io;
    const std::uint32_t workers = std::max<std::uint32_t>(1, options.setup_concurrency);
    for (std::uint32_t i = 0; i < workers; ++i)
        asio::co_spawn(io, SetupWorker(c), [&c](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& error) {
                if (c.report.first_error.empty()) c.report.first_error = error.what();
            }
        });
    io.run();
    std::vector<User> kept;
    for (std::size_t i = 0; i < users.size(); ++i)
        if (c.keep[i]) kept.push_back(std::move(users[i]));
    users = std::move(kept);
    c.report.users = static_cast<std::uint32_t>(users.size());
    c.report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(c.report);
}

}  // namespace keel::load
