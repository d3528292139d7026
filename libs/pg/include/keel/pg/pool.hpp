#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <keel/core/asio.hpp>
#include <keel/pg/result.hpp>

namespace keel::pg {

/// How connections are made. The three server timeouts are set on every session at
/// connect (libpq's `options`, no extra round trip); 0 turns one off. A PG_DSN that
/// carries its own `options=` replaces them. Connections also use TCP keepalives
/// (idle 10 s, then 3 probes 5 s apart) and a 20 s TCP user timeout, so a peer that
/// vanished (host down, network cut) breaks the connection in about 25 s instead of
/// the kernel's two hours; keepalive keywords in the DSN win over these.
struct PoolOptions {
    std::string dsn;
    std::size_t max_size = 16;
    std::chrono::milliseconds connect_timeout{3000};
    std::chrono::milliseconds acquire_timeout{3000};
    /// A statement running longer is cancelled: QueryError 57014.
    std::chrono::milliseconds statement_timeout{15'000};
    /// A statement waiting longer for a lock fails: QueryError 55P03.
    std::chrono::milliseconds lock_timeout{5'000};
    /// A session idle this long inside a transaction is ended by the server (its locks
    /// freed); the pool sees a broken connection and replaces it.
    std::chrono::milliseconds idle_in_transaction_timeout{60'000};
};

/// One statement of a pipelined batch (Connection::ExecuteMany).
struct Statement {
    std::string sql;
    std::vector<Param> params;
};

/// One PostgreSQL connection driven by libpq's asynchronous API on the Asio loop:
/// waiting for the server suspends the coroutine, never a thread. Statements with
/// parameters are prepared once per connection and reused.
/// Not thread-safe: one coroutine at a time (the pool hands it out exclusively).
class Connection final {
public:
    /// Connects within options.connect_timeout with the session settings of `options`.
    /// Throws ConnectionError (a keel::UnavailableError) on any failure.
    static Task<std::unique_ptr<Connection>> Connect(PoolOptions options);
    static Task<std::unique_ptr<Connection>> Connect(std::string dsn,
                                                     std::chrono::milliseconds timeout);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Runs one statement (prepared and cached). Throws QueryError or ConnectionError.
    Task<Result> ExecuteParams(std::string_view sql, std::vector<Param> params);
    /// Execute(sql, a, b, ...) with each argument converted by P(). (A function, not a
    /// coroutine, so callers avoid GCC 12's bug with braced lists inside co_await.)
    template <typename... Args>
    Task<Result> Execute(std::string_view sql, Args&&... args) {
        return ExecuteParams(sql, std::vector<Param>{P(std::forward<Args>(args))...});
    }
    /// Runs the statements in one round trip (libpq's pipeline mode) and returns their
    /// results in order. Each statement still sees what the ones before it did (and, in
    /// READ COMMITTED, takes its own snapshot when it starts). The first error is thrown
    /// after the round trip; the statements after it did not run. Outside a transaction
    /// the statements form one implicit transaction.
    Task<std::vector<Result>> ExecuteMany(std::vector<Statement> statements);
    /// Inside a transaction: the statement is sent with the next one (or with COMMIT), in
    /// the same round trip, for statements whose result nobody reads (an outbox insert).
    /// Its error, if any, is thrown by that next statement and fails the transaction all
    /// the same. Outside a transaction it runs at once.
    Task<void> ExecuteLaterParams(std::string_view sql, std::vector<Param> params);
    template <typename... Args>
    Task<void> ExecuteLater(std::string_view sql, Args&&... args) {
        return ExecuteLaterParams(sql, std::vector<Param>{P(std::forward<Args>(args))...});
    }
    /// Runs a script of several statements through the simple query protocol.
    Task<void> ExecuteScript(std::string_view sql);
    bool Broken() const;
    /// True while a transaction is open or in error on this connection, or one was begun
    /// lazily (BeginLazily) and not ended.
    bool InTransaction() const;

    /// Transactions (Pool::Transaction uses these). BEGIN is not sent on its own: it goes
    /// with the transaction's first statement, in the same round trip.
    void BeginLazily();
    /// COMMIT, with any statements still held back by ExecuteLater; then the OnCommit
    /// callbacks run. They also run when the COMMIT's answer was lost (the connection
    /// broke: it may have committed), so they must be harmless for a transaction that
    /// did not commit, such as a cache invalidation.
    Task<void> Commit();
    /// ROLLBACK (nothing is sent when the transaction never reached the server).
    Task<void> Rollback();
    /// Runs `callback` once the open transaction has committed (see Commit); dropped on
    /// rollback. A callback must not throw.
    void OnCommit(std::function<void()> callback);

private:
    struct Impl;
    explicit Connection(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

/// A bounded pool of connections. Acquire waits (up to acquire_timeout) when all are
/// in use. A connection comes back to the pool only if it is healthy and outside a
/// transaction; otherwise it is closed (the server rolls back whatever it had open)
/// and a fresh one is made on demand, which is how the pool reconnects after a
/// server restart. Thread-safe.
class Pool final : public std::enable_shared_from_this<Pool> {
public:
    static std::shared_ptr<Pool> Create(asio::any_io_executor executor, PoolOptions options);

    class Lease final {
    public:
        Lease(std::shared_ptr<Pool> pool, std::unique_ptr<Connection> connection);
        Lease(Lease&&) noexcept = default;
        Lease& operator=(Lease&&) = delete;
        ~Lease();
        Connection* operator->() { return connection_.get(); }
        Connection& operator*() { return *connection_; }

    private:
        std::shared_ptr<Pool> pool_;
        std::unique_ptr<Connection> connection_;
    };

    Task<Lease> Acquire();
    /// One statement on any free connection.
    Task<Result> ExecuteParams(std::string_view sql, std::vector<Param> params);
    template <typename... Args>
    Task<Result> Execute(std::string_view sql, Args&&... args) {
        return ExecuteParams(sql, std::vector<Param>{P(std::forward<Args>(args))...});
    }
    /// Runs `body` between BEGIN and COMMIT; an exception from it (or a failed commit)
    /// rolls back and is rethrown. A coroutine cancelled mid-way drops the connection,
    /// which also rolls back.
    Task<void> Transaction(std::function<Task<void>(Connection&)> body);
    /// SELECT 1 within the connect timeout.
    Task<bool> Ping();
    std::size_t Size() const;

    Pool(asio::any_io_executor executor, PoolOptions options);

private:
    void Release(std::unique_ptr<Connection> connection);
    void DropIdle();

    struct State;
    asio::any_io_executor executor_;
    PoolOptions options_;
    std::shared_ptr<State> state_;
};

}  // namespace keel::pg
