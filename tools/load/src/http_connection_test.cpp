#include "http_connection.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

namespace keel::load {
namespace {

using namespace std::chrono_literals;

// A scripted server on a free port: for each accepted connection, `serve` gets the socket and
// answers as the test wants (synchronously, on its own thread).
class ScriptedServer {
public:
    explicit ScriptedServer(std::function<void(asio::ip::tcp::socket&)> serve)
        : acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
          serve_(std::move(serve)),
          thread_([this] { Loop(); }) {}
    ~ScriptedServer() {
        stop_ = true;
        boost::system::error_code ignored;
        asio::ip::tcp::socket poke(io_);
        poke.connect(acceptor_.local_endpoint(), ignored);
        thread_.join();
    }
    Target target() const {
        const auto port = acceptor_.local_endpoint().port();
        return ResolveTarget("http://127.0.0.1:" + std::to_string(port));
    }
    static std::string ReadRequest(asio::ip::tcp::socket& s) {
        std::string data;
        char buf[4096];
        while (data.find("\r\n\r\n") == std::string::npos) {
            boost::system::error_code ec;
            const auto n = s.read_some(asio::buffer(buf), ec);
            if (ec) return data;
            data.append(buf, n);
        }
        return data;
    }

private:
    void Loop() {
        while (!stop_) {
            asio::ip::tcp::socket s(io_);
            boost::system::error_code ec;
            acceptor_.accept(s, ec);
            if (ec || stop_) return;
            serve_(s);
        }
    }
    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    std::function<void(asio::ip::tcp::socket&)> serve_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// Runs one request on a fresh io_context and returns the response.
void RunRequests(HttpConnection& c, asio::io_context& io, std::vector<Response>& out, int n,
                 std::chrono::milliseconds timeout = 2s) {
    auto work = [&]() -> asio::awaitable<void> {
        for (int i = 0; i < n; ++i) {
            Response r;
            co_await c.Request("GET", "/x", "", "", timeout, r);
            out.push_back(r);
        }
    };
    asio::co_spawn(io, work, asio::detached);
    io.run();
    io.restart();
}

TEST(HttpConnection, ReadsContentLengthAndChunkedOnOneKeptAliveConnection) {
    ScriptedServer server([](asio::ip::tcp::socket& s) {
        ScriptedServer::ReadRequest(s);
        asio::write(s,
                    asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")));
        ScriptedServer::ReadRequest(s);
        asio::write(s, asio::buffer(std::string(
                           "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")));
        ScriptedServer::ReadRequest(s);
    });
    const Target target = server.target();
    asio::io_context io;
    HttpConnection c(io.get_executor(), target);
    std::vector<Response> out;
    RunRequests(c, io, out, 2);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].outcome, Outcome::kResponse);
    EXPECT_EQ(out[0].status, 200u);
    EXPECT_EQ(out[0].body, "hello");
    EXPECT_EQ(out[1].status, 503u);
    EXPECT_EQ(out[1].body, "abcdefg");
    EXPECT_EQ(c.Connects(), 1u);
    c.Close();
}

TEST(HttpConnection, SendsAgainOnceWhenTheServerClosedAnIdleConnection) {
    ScriptedServer server([](asio::ip::tcp::socket& s) {
        ScriptedServer::ReadRequest(s);
        asio::write(s, asio::buffer(std::string("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")));
        s.close();  // keep-alive ends without telling
    });
    const Target target = server.target();
    asio::io_context io;
    HttpConnection c(io.get_executor(), target);
    std::vector<Response> out;
    RunRequests(c, io, out, 3);
    ASSERT_EQ(out.size(), 3u);
    for (const auto& r : out) {
        EXPECT_EQ(r.outcome, Outcome::kResponse);
        EXPECT_EQ(r.body, "ok");
    }
    EXPECT_EQ(c.Connects(), 3u);
}

TEST(HttpConnection, ASilentServerIsATimeoutAndARefusedPortAConnectError) {
    std::atomic<bool> release{false};
    ScriptedServer server([&](asio::ip::tcp::socket& s) {
        ScriptedServer::ReadRequest(s);
        while (!release) std::this_thread::sleep_for(5ms);  // never answers
    });
    Target target = server.target();
    asio::io_context io;
    HttpConnection c(io.get_executor(), target);
    std::vector<Response> out;
    const auto start = std::chrono::steady_clock::now();
    RunRequests(c, io, out, 1, 200ms);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].outcome, Outcome::kTimeout);
    release = true;

    Target refused = target;
    {
        // a port nobody listens on: bind one, then let it go
        asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
        refused.endpoint.port(a.local_endpoint().port());
    }
    HttpConnection d(io.get_executor(), refused);
    out.clear();
    RunRequests(d, io, out, 1);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].outcome, Outcome::kConnect);
}

TEST(HttpConnection, RejectsUrlsItCannotUse) {
    EXPECT_THROW(ResolveTarget("https://127.0.0.1:1"), std::runtime_error);
    EXPECT_THROW(ResolveTarget("http://:80"), std::runtime_error);
    const Target t = ResolveTarget("http://127.0.0.1:8080/base/");
    EXPECT_EQ(t.endpoint.port(), 8080);
    EXPECT_EQ(t.host_header, "127.0.0.1:8080");
    EXPECT_EQ(t.base_path, "/base");
}

}  // namespace
}  // namespace keel::load
