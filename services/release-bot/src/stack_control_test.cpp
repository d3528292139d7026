// SocketStackControl against a Unix socket served in the test: what keel-stack's control socket
// says (msg lines, a result, ok), and what happens when nobody or a silent peer is there.
#include <filesystem>
#include <string>

#include <unistd.h>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/write.hpp>

#include <keel/core/runtime.hpp>
#include <keel/testing/coro_test.hpp>

#include "stack_control.hpp"

namespace keel::release_bot {
namespace {

using asio::local::stream_protocol;

std::string SocketPath(const std::string& name) {
    auto path = std::filesystem::temp_directory_path() /
                ("rb-" + name + "-" + std::to_string(::getpid()) + ".sock");
    std::filesystem::remove(path);
    return path.string();
}

// Answers one connection: records the request line, writes `answer`, closes (or, with
// answer empty, keeps silent until the peer goes).
Task<void> ServeOnce(std::shared_ptr<stream_protocol::acceptor> acceptor, std::string answer,
                     std::shared_ptr<std::string> request) {
    auto socket = co_await acceptor->async_accept(asio::use_awaitable);
    std::string buffer;
    const auto n = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), '\n',
                                                   asio::use_awaitable);
    *request = buffer.substr(0, n - 1);
    buffer.erase(0, n);
    if (answer.empty()) {
        boost::system::error_code ec;
        auto token = asio::redirect_error(asio::use_awaitable, ec);
        co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer), '\n', token);
        co_return;
    }
    co_await asio::async_write(socket, asio::buffer(answer), asio::use_awaitable);
}

KEEL_CORO_TEST(SocketStackControl, ReadsLinesResultAndVerdict) {
    auto executor = co_await asio::this_coro::executor;
    const auto path = SocketPath("ok");
    auto acceptor =
        std::make_shared<stream_protocol::acceptor>(executor, stream_protocol::endpoint(path));
    auto request = std::make_shared<std::string>();
    Spawn(executor,
          ServeOnce(acceptor,
                    "{\"msg\":\"restarting catalog#1\"}\n{\"msg\":\"catalog#1 is ready\"}\n"
                    "{\"result\":{\"outcome\":\"released\"}}\n{\"ok\":true}\n",
                    request),
          "fake keel-stack");
    SocketStackControl control(path);
    boost::json::object call;
    call["cmd"] = "release";
    call["service"] = "catalog";
    const auto reply = co_await control.Call(std::move(call), std::chrono::seconds(5));
    EXPECT_TRUE(reply.reachable) << reply.error;
    EXPECT_TRUE(reply.ok);
    EXPECT_EQ(reply.lines.size(), 2u);
    EXPECT_EQ(reply.result.at("outcome").as_string(), "released");
    EXPECT_EQ(boost::json::parse(*request),
              boost::json::parse(R"({"cmd":"release","service":"catalog"})"));
    std::filesystem::remove(path);
}

KEEL_CORO_TEST(SocketStackControl, NoSocketIsUnreachable) {
    SocketStackControl control(SocketPath("absent"));
    boost::json::object call;
    call["cmd"] = "ps";
    const auto reply = co_await control.Call(std::move(call), std::chrono::seconds(5));
    EXPECT_FALSE(reply.reachable);
    EXPECT_NE(reply.error.find("control socket"), std::string::npos) << reply.error;

    SocketStackControl unset("");
    boost::json::object again;
    again["cmd"] = "ps";
    const auto none = co_await unset.Call(std::move(again), std::chrono::seconds(5));
    EXPECT_FALSE(none.reachable);
    EXPECT_EQ(none.error, "no control socket (KEEL_STACK_SOCKET is not set)");
}

KEEL_CORO_TEST(SocketStackControl, ASilentPeerRunsIntoTheDeadline) {
    auto executor = co_await asio::this_coro::executor;
    const auto path = SocketPath("silent");
    auto acceptor =
        std::make_shared<stream_protocol::acceptor>(executor, stream_protocol::endpoint(path));
    auto request = std::make_shared<std::string>();
    Spawn(executor, ServeOnce(acceptor, "", request), "silent keel-stack");
    SocketStackControl control(path);
    boost::json::object call;
    call["cmd"] = "ps";
    const auto reply = co_await control.Call(std::move(call), std::chrono::milliseconds(200));
    EXPECT_FALSE(reply.reachable);
    EXPECT_EQ(reply.error, "keel-stack did not answer within 200 ms");
    std::filesystem::remove(path);
}

TEST(ReadControlLine, IgnoresWhatIsNotAnObject) {
    ControlReply reply;
    EXPECT_FALSE(ReadControlLine("not json", reply));
    EXPECT_FALSE(ReadControlLine("[1]", reply));
    EXPECT_TRUE(ReadControlLine(R"({"ok":false})", reply));
    EXPECT_FALSE(reply.ok);
    EXPECT_TRUE(reply.lines.empty());
}

}  // namespace
}  // namespace keel::release_bot
