#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>

namespace keel::testing {

/// A free TCP port on 127.0.0.1 (bound, read, released).
std::uint16_t FreePort();

/// A real PostgreSQL 15 server in a temporary directory on a free port, started on
/// first use and stopped (directory removed) at process exit. As root it runs as the
/// `postgres` system user, since PostgreSQL refuses to run as root.
class PgServer final {
public:
    /// The process-wide instance.
    static PgServer& Shared();
    ~PgServer();
    /// Creates a fresh database (and returns a libpq DSN for it).
    std::string CreateDatabase(const std::string& name);
    std::uint16_t Port() const { return port_; }
    /// Stops and starts the server on the same port and data (reconnect tests).
    void Restart();

private:
    PgServer();
    void Start();
    void Stop();

    std::string dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

/// A real redis-server on a free port, no persistence, stopped at process exit.
class RedisServer final {
public:
    static RedisServer& Shared();
    /// A server of its own that requires `password` (requirepass, from its config file).
    explicit RedisServer(std::string password);
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;
    std::uint16_t Port() const { return port_; }
    void Restart();

private:
    RedisServer();
    void Start();
    void Stop();

    std::string dir_;
    std::string password_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

/// A real nats-server with JetStream (file store in a temporary directory) on a free
/// port, stopped at process exit.
class NatsServer final {
public:
    static NatsServer& Shared();
    /// A server of its own with `extra_config` added to its config file, e.g. an
    /// `authorization { users = [...] }` block (deploy/nats/auth.conf). The server inherits
    /// the test's environment: $VARIABLES in the config come from it.
    explicit NatsServer(std::string extra_config);
    ~NatsServer();
    NatsServer(const NatsServer&) = delete;
    NatsServer& operator=(const NatsServer&) = delete;
    std::uint16_t Port() const { return port_; }
    std::string Url() const { return "nats://127.0.0.1:" + std::to_string(port_); }
    /// Stops (SIGTERM, or SIGKILL when `kill`) and starts again on the same port and store.
    void Restart(bool kill = false);

private:
    NatsServer();
    void Start();
    void Stop(int signal);

    std::string dir_;
    std::string extra_config_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

/// Runs a shell command; throws std::runtime_error with its output on failure.
std::string Shell(const std::string& command);

}  // namespace keel::testing
