#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <keel/core/asio.hpp>
#include <keel/core/unavailable.hpp>

namespace keel::redis {

/// The server answered with an error reply (e.g. WRONGTYPE).
class ReplyError final : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Redis cannot be reached, or did not answer within the command timeout.
class ConnectionError final : public UnavailableError {
public:
    using UnavailableError::UnavailableError;
};

/// One RESP2 reply. kError and kIoError never reach callers: they become exceptions.
struct Reply {
    enum class Type { kNil, kInteger, kString, kStatus, kArray, kError, kIoError };
    Type type = Type::kNil;
    std::int64_t integer = 0;
    std::string text;
    std::vector<Reply> elements;
};

struct ClientOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 6379;
    /// Connections kept open between commands. Each concurrent command uses one, so
    /// keep it at or above the expected concurrency: a command that finds none idle
    /// opens a new one, and one opened per command is what makes Redis slow.
    std::size_t max_idle = 256;
    std::chrono::milliseconds timeout{1000};  ///< connect, and each command
    /// Sent with AUTH on every new connection (Redis' requirepass); empty: none.
    std::string password;
};

/// Asynchronous Redis client on the Asio loop: commands are framed and replies
/// parsed by hiredis, I/O is Asio's. A pool of connections serves concurrent
/// coroutines (it grows to the concurrency seen); a connection that fails or times out is discarded
/// and replaced on the next command, so the client recovers by itself when Redis restarts.
/// Thread-safe.
class Client final : public std::enable_shared_from_this<Client> {
public:
    static std::shared_ptr<Client> Create(asio::any_io_executor executor, ClientOptions options);
    Client(asio::any_io_executor executor, ClientOptions options);
    ~Client();

    /// Any command: Command({"HSET", key, field, value}). Throws ReplyError or ConnectionError.
    Task<Reply> Command(std::vector<std::string> args);

    Task<std::optional<std::string>> Get(std::string key);
    /// SET with an expiry (0: none).
    Task<void> Set(std::string key, std::string value, std::chrono::seconds ttl);
    Task<std::int64_t> Del(std::string key);
    /// Runs a Lua script by its SHA1, loading it on NOSCRIPT.
    Task<Reply> Eval(const std::string& script, std::vector<std::string> keys,
                     std::vector<std::string> args);
    Task<bool> Ping();

private:
    class Connection;
    Task<std::unique_ptr<Connection>> Take();
    void Give(std::unique_ptr<Connection> connection);

    asio::any_io_executor executor_;
    ClientOptions options_;
    struct Idle;
    std::unique_ptr<Idle> idle_;
};

}  // namespace keel::redis
