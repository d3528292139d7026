#include "stack_control.hpp"

#include <memory>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/write.hpp>

namespace keel::release_bot {

bool ReadControlLine(std::string_view line, ControlReply& reply) {
    boost::system::error_code ec;
    auto value = boost::json::parse(line, ec);
    if (ec || !value.is_object()) return false;
    const auto& obj = value.as_object();
    if (const auto* msg = obj.if_contains("msg"); msg && msg->is_string())
        reply.lines.emplace_back(msg->as_string());
    if (const auto* result = obj.if_contains("result")) reply.result = *result;
    if (const auto* ok = obj.if_contains("ok"); ok && ok->is_bool()) reply.ok = ok->as_bool();
    return true;
}

Task<ControlReply> SocketStackControl::Call(boost::json::object request,
                                            std::chrono::milliseconds deadline) {
    using asio::local::stream_protocol;
    ControlReply reply;
    if (path_.empty()) {
        reply.error = "no control socket (KEEL_STACK_SOCKET is not set)";
        co_return reply;
    }
    auto executor = co_await asio::this_coro::executor;
    auto socket = std::make_shared<stream_protocol::socket>(executor);
    // The deadline closes the socket, which ends whatever read or write is pending.
    auto timer = std::make_shared<asio::steady_timer>(executor, deadline);
    auto timed_out = std::make_shared<bool>(false);
    timer->async_wait([socket, timed_out](boost::system::error_code ec) {
        if (ec) return;
        *timed_out = true;
        boost::system::error_code ignored;
        socket->close(ignored);
    });
    const auto line = boost::json::serialize(request) + "\n";
    std::string buffer;
    boost::system::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    co_await socket->async_connect(stream_protocol::endpoint(path_), token);
    if (!ec) co_await asio::async_write(*socket, asio::buffer(line), token);
    while (!ec) {
        const auto n =
            co_await asio::async_read_until(*socket, asio::dynamic_buffer(buffer), '\n', token);
        if (ec) break;
        ReadControlLine(std::string_view(buffer).substr(0, n - 1), reply);
        buffer.erase(0, n);
        reply.reachable = true;
    }
    timer->cancel();
    if (*timed_out) {
        reply.reachable = false;
        reply.error =
            "keel-stack did not answer within " + std::to_string(deadline.count()) + " ms";
    } else if (ec != asio::error::eof) {
        reply.reachable = false;
        reply.error = "keel-stack's control socket " + path_ + ": " + ec.message();
    } else if (!reply.reachable) {
        reply.error = "keel-stack closed the connection without an answer";
    }
    co_return reply;
}

}  // namespace keel::release_bot
