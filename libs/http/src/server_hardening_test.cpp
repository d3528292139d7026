// The server against slow, malformed and hostile clients, over real sockets. Clients
// here are blocking sockets on the test thread; the server runs on its own io thread.
#include <keel/http/server.hpp>

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/json/parse.hpp>

#include <atomic>
#include <random>
#include <thread>

namespace keel::http {
namespace {

using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

class AcceptAll final : public Authenticator {
public:
    Task<Outcome> Authenticate(std::string_view token) override {
        Outcome o;
        if (token == "user-token")
            o.principal = Principal{"u1", "user"};
        else
            o.error = "bad token";
        co_return o;
    }
};

Router MakeRouter() {
    Router router;
    router.Add(Verb::get, "/items/{id}", Access::kPublic,
               [](RequestContext& ctx) -> Task<Response> {
                   const std::string id(ctx.Param("id"));
                   const std::string q = ctx.Query("q").value_or("");
                   co_return JsonText(Status::ok, "{\"id\":\"" + id + "\",\"q\":\"" + q + "\"}");
               });
    router.Add(Verb::get, "/whoami", Access::kPublic, [](RequestContext& ctx) -> Task<Response> {
        co_return JsonText(Status::ok, "{\"ip\":\"" + ctx.ClientIp() + "\"}");
    });
    router.Add(Verb::get, "/note", Access::kPublic, [](RequestContext& ctx) -> Task<Response> {
        const std::string note(ctx.Header("X-Note").value_or(""));
        co_return JsonText(Status::ok, "{}");
    });
    router.Add(Verb::get, "/me", Access::kUser,
               [](RequestContext&) -> Task<Response> { co_return JsonText(Status::ok, "{}"); });
    router.Add(Verb::get, "/me/cached", Access::kUser, [](RequestContext&) -> Task<Response> {
        Response r = JsonText(Status::ok, "{}");
        r.set(beast_http::field::cache_control, "private, max-age=60");
        co_return r;
    });
    return router;
}

// A server on its own io thread with its own registry.
class RunningServer {
public:
    explicit RunningServer(ServerOptions options) {
        options.port = 0;
        options.access_log = false;
        server_ = std::make_unique<Server>(context_, MakeRouter(), std::move(options),
                                           std::make_shared<AcceptAll>(), registry_);
        server_->Start();
        io_ = std::thread([this] {
            auto guard = asio::make_work_guard(context_);
            context_.run();
        });
    }
    ~RunningServer() {
        context_.stop();
        io_.join();
    }
    std::uint16_t Port() const { return server_->Port(); }
    telemetry::Registry& Registry() { return registry_; }

private:
    asio::io_context context_;
    telemetry::Registry registry_;
    std::unique_ptr<Server> server_;
    std::thread io_;
};

// A blocking client connection (its own io_context: sync calls only).
class Connection {
public:
    explicit Connection(std::uint16_t port) : socket_(context_) {
        socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    }
    void Send(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }
    Response Exchange(std::string_view raw_request) {
        Send(raw_request);
        Response response;
        beast_http::read(socket_, buffer_, response);
        return response;
    }
    // Blocks until the server closes the connection (true) or sends something (false).
    bool WaitForClose() {
        char byte = 0;
        boost::system::error_code ec;
        socket_.read_some(asio::buffer(&byte, 1), ec);
        return ec == asio::error::eof || ec == asio::error::connection_reset;
    }
    tcp::socket& Socket() { return socket_; }

private:
    asio::io_context context_;
    tcp::socket socket_;
    boost::beast::flat_buffer buffer_;
};

std::string Get(std::string_view target, std::string_view extra_headers = "") {
    std::string request = "GET ";
    request.append(target).append(" HTTP/1.1\r\nHost: t\r\n").append(extra_headers);
    return request.append("\r\n");
}

void ExpectProblem(const Response& r, unsigned status, std::string_view detail_part = "") {
    EXPECT_EQ(r.result_int(), status) << r.body();
    EXPECT_EQ(r[beast_http::field::content_type], "application/problem+json");
    const auto body = boost::json::parse(r.body()).as_object();
    EXPECT_EQ(body.at("status").as_int64(), status);
    EXPECT_NE(std::string_view(body.at("detail").as_string()).find(detail_part),
              std::string_view::npos)
        << r.body();
}

// Sends `bytes` one every `every` from another thread until the peer closes or `limit`
// passes; returns how long after `since` the server closed (about `limit` if it did not).
Clock::duration TrickleUntilClosed(Connection& c, std::string_view bytes, Clock::duration every,
                                   Clock::duration limit, Clock::time_point since) {
    std::atomic<bool> stop{false};
    const auto started = Clock::now();
    std::thread trickler([&] {
        for (std::size_t i = 0; !stop && Clock::now() - started < limit; ++i) {
            boost::system::error_code ec;
            asio::write(c.Socket(), asio::buffer(bytes.substr(i % bytes.size(), 1)), ec);
            if (ec) break;
            std::this_thread::sleep_for(every);
        }
        boost::system::error_code ec;
        c.Socket().shutdown(tcp::socket::shutdown_send, ec);  // ends WaitForClose past the limit
    });
    const bool closed = c.WaitForClose();
    const auto elapsed = Clock::now() - since;
    stop = true;
    trickler.join();
    EXPECT_TRUE(closed);
    return elapsed;
}

TEST(HttpHardening, SlowHeadersAreCutOffAtTheHeaderDeadline) {
    ServerOptions options;
    options.header_timeout = 600ms;
    options.body_timeout = 600ms;
    options.idle_timeout = 30s;
    RunningServer server(options);

    // An idle keep-alive connection (one request served) is not held to the header deadline.
    Connection idle(server.Port());
    EXPECT_EQ(idle.Exchange(Get("/items/0")).result_int(), 200u);
    Connection loris(server.Port());
    const auto since = Clock::now();
    loris.Send("GET /items/1 HTTP/1.1\r\nHost: t\r\n");
    // Meanwhile a normal client is served on another connection.
    Connection normal(server.Port());
    EXPECT_EQ(normal.Exchange(Get("/items/2")).result_int(), 200u);
    // A header line a byte every 100 ms, never finished: closed at the header deadline,
    // not at the 30 s idle timeout.
    const auto elapsed =
        TrickleUntilClosed(loris, "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n", 100ms, 5s, since);
    EXPECT_GE(elapsed, 500ms);
    EXPECT_LT(elapsed, 3s);

    std::this_thread::sleep_for(200ms);  // the idle one has now waited past the header deadline
    EXPECT_EQ(idle.Exchange(Get("/items/3")).result_int(), 200u);
    EXPECT_EQ(normal.Exchange(Get("/items/4")).result_int(), 200u);
}

TEST(HttpHardening, SilentNewConnectionsAreClosedAtTheHeaderDeadline) {
    ServerOptions options;
    options.header_timeout = 600ms;
    options.idle_timeout = 30s;
    RunningServer server(options);
    Connection silent(server.Port());
    const auto started = Clock::now();
    EXPECT_TRUE(silent.WaitForClose());
    const auto elapsed = Clock::now() - started;
    EXPECT_GE(elapsed, 500ms);
    EXPECT_LT(elapsed, 3s);
}

TEST(HttpHardening, SlowBodiesAreCutOffAtTheBodyDeadline) {
    ServerOptions options;
    options.header_timeout = 600ms;
    options.body_timeout = 600ms;
    options.idle_timeout = 30s;
    RunningServer server(options);
    Connection slow(server.Port());
    const auto since = Clock::now();
    slow.Send(
        "PUT /items/1 HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000\r\n\r\n");
    const auto elapsed = TrickleUntilClosed(slow, "x", 100ms, 5s, since);
    EXPECT_GE(elapsed, 500ms);
    EXPECT_LT(elapsed, 3s);
}

std::size_t Lines(const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(HttpHardening, InventedMethodsAddNoMetricSeries) {
    RunningServer server(ServerOptions{});
    Connection c(server.Port());
    // One of each kind first: the label sets these make exist once and for all.
    ExpectProblem(c.Exchange("MABCDEF /items/1 HTTP/1.1\r\nHost: t\r\n\r\n"), 501);
    ExpectProblem(c.Exchange("PROPFIND /items/1 HTTP/1.1\r\nHost: t\r\n\r\n"), 405);
    ExpectProblem(c.Exchange("PROPFIND /nothing HTTP/1.1\r\nHost: t\r\n\r\n"), 404);
    ExpectProblem(c.Exchange(Get("/nothing")), 404);
    const std::string before = server.Registry().Render();

    std::mt19937 random(12345);
    // Starts from `text`: "literal" + std::string trips a GCC 12 -Wrestrict false positive.
    auto token = [&](std::size_t length, std::string text = "") {
        for (std::size_t i = 0; i < length; ++i)
            text.push_back(static_cast<char>('A' + random() % 26));
        return text;
    };
    for (int i = 0; i < 100; ++i) {
        const std::string method = i % 10 == 0 ? "MKCOL" : token(3 + random() % 10);
        const std::string path = i % 2 ? token(5, "/items/") : token(8, "/") + token(3, "/");
        const auto r = c.Exchange(method + " " + path + " HTTP/1.1\r\nHost: t\r\n\r\n");
        EXPECT_TRUE(r.result_int() == 501 || r.result_int() == 405 || r.result_int() == 404)
            << method << " " << path << " " << r.result_int();
        c.Exchange(Get(token(6, "/")));
    }
    const std::string after = server.Registry().Render();
    EXPECT_EQ(Lines(after), Lines(before)) << after;
    EXPECT_NE(after.find(R"(http_requests_total{route="unmatched",method="OTHER",status="501"})"),
              std::string::npos)
        << after;
    EXPECT_EQ(after.find("MABCDEF"), std::string::npos);
    EXPECT_EQ(after.find("PROPFIND"), std::string::npos);
}

TEST(HttpHardening, BadBytesInParametersAreA400NamingTheParameter) {
    RunningServer server(ServerOptions{});
    Connection c(server.Port());
    ExpectProblem(c.Exchange(Get("/items/1?q=%FF%FE")), 400,
                  "query parameter 'q' is not valid UTF-8");
    ExpectProblem(c.Exchange(Get("/items/%FF%FE")), 400, "path parameter 'id' is not valid UTF-8");
    ExpectProblem(c.Exchange(Get("/items/1?q=a%00b")), 400,
                  "query parameter 'q' must not contain NUL");
    ExpectProblem(c.Exchange(Get("/items/a%00b")), 400, "path parameter 'id' must not contain NUL");
    ExpectProblem(c.Exchange(Get("/items/1?q=%C0%80")), 400, "not valid UTF-8");  // overlong NUL
    ExpectProblem(c.Exchange(Get("/items/1?q=%G1")), 400, "not valid percent-encoding");
    ExpectProblem(c.Exchange(Get("/items/%zz")), 400, "path parameter 'id' is not valid percent");
    // Raw bytes (not percent-encoded) in the target are checked the same way.
    ExpectProblem(c.Exchange(Get("/items/1?q=\xFF")), 400, "query parameter 'q'");
    ExpectProblem(c.Exchange(Get("/items/\xC3")), 400, "path parameter 'id'");
    ExpectProblem(c.Exchange(Get("/note", "X-Note: \xFF\xFE\r\n")), 400,
                  "header 'X-Note' is not valid UTF-8");
    // Good text passes, decoded.
    const auto ok = c.Exchange(Get("/items/caf%C3%A9?q=%E2%82%AC+1"));
    EXPECT_EQ(ok.result_int(), 200u);
    EXPECT_EQ(ok.body(), "{\"id\":\"caf\xC3\xA9\",\"q\":\"\xE2\x82\xAC 1\"}");
    EXPECT_EQ(c.Exchange(Get("/note", "X-Note: caf\xC3\xA9\r\n")).result_int(), 200u);
}

TEST(HttpHardening, PrivateResponsesAreNotStored) {
    RunningServer server(ServerOptions{});
    Connection c(server.Port());
    const auto pub = c.Exchange(Get("/items/1"));
    EXPECT_EQ(pub.result_int(), 200u);
    EXPECT_EQ(pub.find(beast_http::field::cache_control), pub.end());
    EXPECT_EQ(pub["X-Content-Type-Options"], "nosniff");

    const auto mine = c.Exchange(Get("/me", "Authorization: Bearer user-token\r\n"));
    EXPECT_EQ(mine.result_int(), 200u);
    EXPECT_EQ(mine[beast_http::field::cache_control], "no-store");
    EXPECT_EQ(mine["X-Content-Type-Options"], "nosniff");
    const auto denied = c.Exchange(Get("/me"));
    EXPECT_EQ(denied.result_int(), 401u);
    EXPECT_EQ(denied[beast_http::field::cache_control], "no-store");
    // A handler's own Cache-Control stands.
    const auto cached = c.Exchange(Get("/me/cached", "Authorization: Bearer user-token\r\n"));
    EXPECT_EQ(cached[beast_http::field::cache_control], "private, max-age=60");

    const auto missing = c.Exchange(Get("/nothing"));
    EXPECT_EQ(missing["X-Content-Type-Options"], "nosniff");
    // Even an answer to a request that could not be parsed.
    Connection broken(server.Port());
    const auto malformed = broken.Exchange("GET /items/1 HTTP/1.1\r\nBad Header\r\n\r\n");
    EXPECT_EQ(malformed.result_int(), 400u);
    EXPECT_EQ(malformed["X-Content-Type-Options"], "nosniff");
}

std::string IpSeenBy(std::uint16_t port, std::string_view headers) {
    Connection c(port);
    const auto r = c.Exchange(Get("/whoami", headers));
    EXPECT_EQ(r.result_int(), 200u);
    return std::string(boost::json::parse(r.body()).as_object().at("ip").as_string());
}

TEST(HttpHardening, ForwardingHeadersCountOnlyFromTrustedProxies) {
    // Default: loopback is the gateway, so its X-Real-IP names the client.
    RunningServer trusted(ServerOptions{});
    EXPECT_EQ(IpSeenBy(trusted.Port(), "X-Real-IP: 203.0.113.9\r\n"), "203.0.113.9");
    EXPECT_EQ(IpSeenBy(trusted.Port(), "X-Forwarded-For: 1.1.1.1, 203.0.113.7\r\n"), "203.0.113.7");
    EXPECT_EQ(IpSeenBy(trusted.Port(), "X-Real-IP: not-an-ip\r\n"), "127.0.0.1");
    EXPECT_EQ(IpSeenBy(trusted.Port(), ""), "127.0.0.1");

    ServerOptions strict;
    strict.trusted_proxies = {*AddressRange::Parse("10.0.0.0/8")};
    RunningServer untrusted(strict);
    EXPECT_EQ(IpSeenBy(untrusted.Port(), "X-Real-IP: 203.0.113.9\r\n"), "127.0.0.1");
    EXPECT_EQ(IpSeenBy(untrusted.Port(), "X-Forwarded-For: 203.0.113.9\r\n"), "127.0.0.1");
}

TEST(HttpHardening, RequestIdsThatAreNotPlainAsciiAreReplaced) {
    RunningServer server(ServerOptions{});
    Connection c(server.Port());
    EXPECT_EQ(c.Exchange(Get("/items/1", "X-Request-Id: abc-123\r\n"))["X-Request-Id"], "abc-123");
    const auto replaced = c.Exchange(Get("/items/1", "X-Request-Id: a\xFF b\r\n"));
    EXPECT_EQ(replaced["X-Request-Id"].size(), 32u);
    EXPECT_EQ(replaced["X-Request-Id"].find('\xFF'), std::string_view::npos);
}

}  // namespace
}  // namespace keel::http
