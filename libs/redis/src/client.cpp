#include <keel/redis/client.hpp>

#include "resp.hpp"

#include <hiredis/hiredis.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdlib>
#include <map>
#include <mutex>

namespace keel::redis {
namespace {

using tcp = asio::ip::tcp;
using namespace boost::asio::experimental::awaitable_operators;

using detail::Convert;
using detail::Frame;

}  // namespace

class Client::Connection {
public:
    explicit Connection(const asio::any_io_executor& executor)
        : socket_(executor), reader_(redisReaderCreate()) {}
    ~Connection() { redisReaderFree(reader_); }

    Task<void> Connect(const ClientOptions& options) {
        auto executor = co_await asio::this_coro::executor;
        tcp::resolver resolver(executor);
        auto endpoints = co_await resolver.async_resolve(options.host, std::to_string(options.port),
                                                         asio::use_awaitable);
        asio::steady_timer timer(executor, options.timeout);
        auto outcome = co_await (asio::async_connect(socket_, endpoints, asio::use_awaitable) ||
                                 timer.async_wait(asio::use_awaitable));
        if (outcome.index() == 1) throw ConnectionError("redis connect: timed out");
        socket_.set_option(tcp::no_delay(true));
    }

    Task<Reply> Run(const std::string& framed, std::chrono::milliseconds timeout) {
        asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
        // Exchange reports failures as values: an exception crossing the || operator
        // would not end the race.
        auto outcome = co_await (Exchange(framed) || timer.async_wait(asio::use_awaitable));
        if (outcome.index() == 1) throw ConnectionError("redis: command timed out");
        Reply reply = std::get<0>(std::move(outcome));
        if (reply.type == Reply::Type::kError) throw ReplyError(reply.text);
        if (reply.type == Reply::Type::kIoError) throw ConnectionError(reply.text);
        co_return reply;
    }

private:
    static Reply IoError(std::string text) {
        Reply reply;
        reply.type = Reply::Type::kIoError;
        reply.text = std::move(text);
        return reply;
    }

    Task<Reply> Exchange(const std::string& framed) {
        boost::system::error_code ec;
        co_await asio::async_write(socket_, asio::buffer(framed),
                                   asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return IoError("redis write: " + ec.message());
        std::array<char, std::size_t{16} * 1024> buffer;
        for (;;) {
            void* raw = nullptr;
            if (redisReaderGetReply(reader_, &raw) != REDIS_OK)
                co_return IoError("redis: protocol error");
            if (raw) {
                std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                                   freeReplyObject);
                co_return Convert(reply.get());
            }
            const std::size_t n = co_await socket_.async_read_some(
                asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return IoError("redis read: " + ec.message());
            redisReaderFeed(reader_, buffer.data(), n);
        }
    }

    tcp::socket socket_;
    redisReader* reader_;
};

struct Client::Idle {
    std::mutex mutex;
    std::vector<std::unique_ptr<Connection>> connections;
    std::map<std::string, std::string> script_shas;
};

std::shared_ptr<Client> Client::Create(asio::any_io_executor executor, ClientOptions options) {
    return std::make_shared<Client>(std::move(executor), std::move(options));
}

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      idle_(std::make_unique<Idle>()) {}

Client::~Client() = default;

Task<std::unique_ptr<Client::Connection>> Client::Take() {
    {
        std::lock_guard lock(idle_->mutex);
        if (!idle_->connections.empty()) {
            auto c = std::move(idle_->connections.back());
            idle_->connections.pop_back();
            co_return c;
        }
    }
    // Connections are cheap for Redis: make one instead of waiting; Give() keeps at
    // most max_idle idle.
    auto connection = std::make_unique<Connection>(executor_);
    try {
        co_await connection->Connect(options_);
        if (!options_.password.empty()) {
            // A wrong password is a ReplyError (WRONGPASS): below it becomes a
            // ConnectionError, so that readiness fails and nothing runs unauthenticated.
            std::vector<std::string> auth{"AUTH", options_.password};
            const std::string framed = Frame(auth);
            co_await connection->Run(framed, options_.timeout);
        }
    } catch (const ConnectionError&) {
        throw;
    } catch (const std::exception& e) {
        throw ConnectionError(std::string("redis connect: ") + e.what());
    }
    co_return connection;
}

void Client::Give(std::unique_ptr<Connection> connection) {
    std::lock_guard lock(idle_->mutex);
    if (idle_->connections.size() < options_.max_idle)
        idle_->connections.push_back(std::move(connection));
}

Task<Reply> Client::Command(std::vector<std::string> args) {
    auto self = shared_from_this();
    const std::string framed = Frame(args);
    auto connection = co_await Take();
    Reply reply;
    try {
        reply = co_await connection->Run(framed, options_.timeout);
    } catch (const ReplyError&) {
        Give(std::move(connection));  // the connection is fine; the command was not
        throw;
    } catch (const ConnectionError&) {
        // Redis probably restarted: the idle connections are dead as well.
        std::lock_guard lock(idle_->mutex);
        idle_->connections.clear();
        throw;
    }
    Give(std::move(connection));
    co_return reply;
}

Task<std::optional<std::string>> Client::Get(std::string key) {
    std::vector<std::string> args{"GET", std::move(key)};
    auto reply = co_await Command(std::move(args));
    if (reply.type == Reply::Type::kNil) co_return std::nullopt;
    co_return std::move(reply.text);
}

Task<void> Client::Set(std::string key, std::string value, std::chrono::seconds ttl) {
    std::vector<std::string> args{"SET", std::move(key), std::move(value)};
    if (ttl.count() > 0) {
        args.emplace_back("EX");
        args.push_back(std::to_string(ttl.count()));
    }
    co_await Command(std::move(args));
}

Task<std::int64_t> Client::Del(std::string key) {
    std::vector<std::string> args{"DEL", std::move(key)};
    auto reply = co_await Command(std::move(args));
    co_return reply.integer;
}

Task<Reply> Client::Eval(const std::string& script, std::vector<std::string> keys,
                         std::vector<std::string> args) {
    std::string sha;
    {
        std::lock_guard lock(idle_->mutex);
        if (auto it = idle_->script_shas.find(script); it != idle_->script_shas.end())
            sha = it->second;
    }
    if (sha.empty()) {
        std::vector<std::string> load{"SCRIPT", "LOAD", script};
        sha = (co_await Command(std::move(load))).text;
        std::lock_guard lock(idle_->mutex);
        idle_->script_shas[script] = sha;
    }
    std::vector<std::string> command{"EVALSHA", sha, std::to_string(keys.size())};
    command.insert(command.end(), keys.begin(), keys.end());
    command.insert(command.end(), args.begin(), args.end());
    try {
        co_return co_await Command(command);
    } catch (const ReplyError& e) {
        // After a Redis restart (or SCRIPT FLUSH) the script cache is empty.
        if (!std::string_view(e.what()).starts_with("NOSCRIPT")) throw;
    }
    command[0] = "EVAL";
    command[1] = script;
    co_return co_await Command(std::move(command));
}

Task<bool> Client::Ping() {
    try {
        std::vector<std::string> args{"PING"};
        auto reply = co_await Command(std::move(args));
        co_return reply.text == "PONG";
    } catch (const std::exception&) {
        co_return false;
    }
}

}  // namespace keel::redis
