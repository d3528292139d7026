#include <keel/pg/pool.hpp>

#include <libpq-fe.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/system/system_error.hpp>

#include <unordered_map>

#include <keel/core/log.hpp>

namespace keel::pg {
namespace {

using Descriptor = asio::posix::stream_descriptor;

std::string ErrorText(PGconn* conn) {
    std::string text = PQerrorMessage(conn);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

}  // namespace

struct Connection::Impl {
    PGconn* conn = nullptr;
    std::unique_ptr<Descriptor> socket;
    std::unordered_map<std::string, std::string> prepared;  // sql -> statement name
    int next_name = 0;
    // A lazily begun transaction: BEGIN and the statements held back by ExecuteLater go
    // out with the next statement, in one round trip.
    bool begin_pending = false;
    std::vector<Statement> held;
    std::vector<std::function<void()>> on_commit;

    ~Impl() {
        // libpq owns the file descriptor: Asio must let go of it before PQfinish closes it.
        if (socket) socket->release();
        if (conn) PQfinish(conn);
    }

    Task<void> Wait(Descriptor::wait_type type) {
        boost::system::error_code ec;
        co_await socket->async_wait(type, asio::redirect_error(asio::use_awaitable, ec));
        // A cancelled coroutine (a handler deadline) is not an unreachable server: it must
        // not count as an outage (pool.cpp drops idle connections on ConnectionError).
        if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec);
        if (ec) throw ConnectionError("postgres socket: " + ec.message());
    }

    void Rebind(const asio::any_io_executor& executor) {
        if (socket) socket->release();
        socket = std::make_unique<Descriptor>(executor, PQsocket(conn));
    }

    Task<void> Flush() {
        for (;;) {
            const int status = PQflush(conn);
            if (status == 0) co_return;
            if (status < 0) throw ConnectionError("postgres send: " + ErrorText(conn));
            co_await Wait(Descriptor::wait_write);
        }
    }

    // Collects every result of the command just sent; returns the last one and throws
    // on the first error.
    Task<Result> Collect() {
        co_await Flush();
        Result last;
        std::optional<QueryError> error;
        for (;;) {
            while (PQisBusy(conn)) {
                co_await Wait(Descriptor::wait_read);
                if (!PQconsumeInput(conn))
                    throw ConnectionError("postgres receive: " + ErrorText(conn));
            }
            PGresult* raw = PQgetResult(conn);
            if (!raw) break;
            Result result(raw);
            const auto status = PQresultStatus(raw);
            if (status == PGRES_FATAL_ERROR && !error) {
                const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
                std::string message = PQresultErrorMessage(raw);
                while (!message.empty() && message.back() == '\n') message.pop_back();
                error.emplace(state ? state : "", message);
            }
            last = std::move(result);
        }
        if (PQstatus(conn) == CONNECTION_BAD)
            throw ConnectionError("postgres connection lost: " + ErrorText(conn));
        if (error) throw *error;
        co_return last;
    }

    // The next result of the pipeline, waiting for it; null between commands' results.
    Task<PGresult*> NextPipelined() {
        while (PQisBusy(conn)) {
            co_await Wait(Descriptor::wait_read);
            if (!PQconsumeInput(conn))
                throw ConnectionError("postgres receive: " + ErrorText(conn));
        }
        co_return PQgetResult(conn);
    }

    // Sends every statement (preparing those not prepared yet) and one Sync, then reads
    // the results: one round trip. Returns each statement's result; throws the first
    // error once the pipeline is drained, so that the connection stays usable.
    Task<std::vector<Result>> Pipeline(const std::vector<Statement>& statements) {
        if (!PQenterPipelineMode(conn))
            throw ConnectionError("postgres pipeline: " + ErrorText(conn));
        // Per command sent: the index of its statement, or -1 - index for a Prepare.
        std::vector<int> commands;
        std::unordered_map<std::string, std::string> preparing;  // sql -> name
        for (std::size_t i = 0; i < statements.size(); ++i) {
            const auto& st = statements[i];
            std::string name;
            if (auto it = prepared.find(st.sql); it != prepared.end()) {
                name = it->second;
            } else if (auto p = preparing.find(st.sql); p != preparing.end()) {
                name = p->second;
            } else {
                name = "k" + std::to_string(next_name++);
                if (!PQsendPrepare(conn, name.c_str(), st.sql.c_str(), 0, nullptr))
                    throw ConnectionError("postgres prepare: " + ErrorText(conn));
                preparing.emplace(st.sql, name);
                commands.push_back(-1 - static_cast<int>(i));
            }
            std::vector<const char*> values;
            values.reserve(st.params.size());
            for (const auto& v : st.params) values.push_back(v ? v->c_str() : nullptr);
            if (!PQsendQueryPrepared(conn, name.c_str(), static_cast<int>(values.size()),
                                     values.data(), nullptr, nullptr, 0))
                throw ConnectionError("postgres send: " + ErrorText(conn));
            commands.push_back(static_cast<int>(i));
        }
        if (!PQpipelineSync(conn)) throw ConnectionError("postgres sync: " + ErrorText(conn));
        co_await Flush();
        std::vector<Result> results(statements.size());
        std::optional<QueryError> error;
        for (const int command : commands) {
            bool failed = false;
            for (;;) {
                PGresult* raw = co_await NextPipelined();
                if (!raw) break;
                Result result(raw);
                const auto status = PQresultStatus(raw);
                if (status == PGRES_FATAL_ERROR) {
                    failed = true;
                    if (!error) {
                        const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
                        std::string message = PQresultErrorMessage(raw);
                        while (!message.empty() && message.back() == '\n') message.pop_back();
                        error.emplace(state ? state : "", message);
                    }
                } else if (status == PGRES_PIPELINE_ABORTED) {
                    failed = true;
                }
                if (command >= 0) results[static_cast<std::size_t>(command)] = std::move(result);
            }
            if (command < 0 && !failed) {
                const auto& sql = statements[static_cast<std::size_t>(-1 - command)].sql;
                prepared.emplace(sql, preparing.at(sql));
            }
        }
        PGresult* sync = co_await NextPipelined();
        const bool synced = sync != nullptr && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
        if (sync) PQclear(sync);
        if (!synced || !PQexitPipelineMode(conn))
            throw ConnectionError("postgres pipeline out of step: " + ErrorText(conn));
        if (PQstatus(conn) == CONNECTION_BAD)
            throw ConnectionError("postgres connection lost: " + ErrorText(conn));
        if (error) throw *error;
        co_return results;
    }

    // `statements` after what a lazy transaction holds back (BEGIN, ExecuteLater's):
    // one round trip for all; the results of `statements` only.
    Task<std::vector<Result>> RunWithHeld(std::vector<Statement> statements) {
        std::vector<Statement> all;
        all.reserve(held.size() + statements.size() + 1);
        if (begin_pending) all.push_back(Statement{"BEGIN", {}});
        for (auto& st : held) all.push_back(std::move(st));
        const std::size_t first = all.size();
        for (auto& st : statements) all.push_back(std::move(st));
        begin_pending = false;
        held.clear();
        auto results = co_await Pipeline(all);
        results.erase(results.begin(), results.begin() + static_cast<std::ptrdiff_t>(first));
        co_return results;
    }
};

Connection::Connection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Connection::~Connection() = default;

namespace {

// "-c statement_timeout=15000 ...": the server applies these to the session at start.
std::string SessionOptions(const PoolOptions& options) {
    std::string text;
    auto add = [&text](const char* name, std::chrono::milliseconds value) {
        if (!text.empty()) text += ' ';
        text += "-c ";
        text += name;
        text += '=';
        text += std::to_string(value.count());
    };
    add("statement_timeout", options.statement_timeout);
    add("lock_timeout", options.lock_timeout);
    add("idle_in_transaction_session_timeout", options.idle_in_transaction_timeout);
    return text;
}

}  // namespace

Task<std::unique_ptr<Connection>> Connection::Connect(std::string dsn,
                                                      std::chrono::milliseconds timeout) {
    PoolOptions options;
    options.dsn = std::move(dsn);
    options.connect_timeout = timeout;
    co_return co_await Connect(std::move(options));
}

Task<std::unique_ptr<Connection>> Connection::Connect(PoolOptions options) {
    const auto timeout = options.connect_timeout;
    const std::string session = SessionOptions(options);
    // Our keywords first, the DSN (expanded from "dbname") last: libpq keeps the last
    // value of a repeated keyword, so whatever the DSN says wins.
    const char* const keys[] = {
        "options",          "keepalives",       "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "dbname",          nullptr};
    const char* const values[] = {session.c_str(),     "1",    "10", "5", "3", "20000",
                                  options.dsn.c_str(), nullptr};
    auto impl = std::make_unique<Impl>();
    impl->conn = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
    if (!impl->conn) throw ConnectionError("postgres: out of memory");
    if (PQstatus(impl->conn) == CONNECTION_BAD)
        throw ConnectionError("postgres connect: " + ErrorText(impl->conn));
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer deadline(executor);
    deadline.expires_after(timeout);
    // The socket can change while libpq tries addresses; wait on whichever is current.
    int fd = -1;
    for (PostgresPollingStatusType poll = PGRES_POLLING_WRITING;;) {
        if (poll == PGRES_POLLING_OK) break;
        if (poll == PGRES_POLLING_FAILED)
            throw ConnectionError("postgres connect: " + ErrorText(impl->conn));
        if (PQsocket(impl->conn) < 0)
            throw ConnectionError("postgres connect: no socket: " + ErrorText(impl->conn));
        if (PQsocket(impl->conn) != fd) {
            fd = PQsocket(impl->conn);
            impl->Rebind(executor);
        }
        if (deadline.expiry() <= std::chrono::steady_clock::now())
            throw ConnectionError("postgres connect: timed out");
        impl->socket->non_blocking(true);
        // Bounded wait: a server that never answers must not hang start-up.
        asio::steady_timer guard(executor);
        guard.expires_at(deadline.expiry());
        guard.async_wait([&](boost::system::error_code ec) {
            if (!ec) impl->socket->cancel();
        });
        co_await impl->Wait(poll == PGRES_POLLING_READING ? Descriptor::wait_read
                                                          : Descriptor::wait_write);
        guard.cancel();
        poll = PQconnectPoll(impl->conn);
    }
    if (PQsocket(impl->conn) != fd) impl->Rebind(executor);
    PQsetnonblocking(impl->conn, 1);
    // Server notices ("relation already exists, skipping") go to the log, not stderr.
    PQsetNoticeProcessor(
        impl->conn,
        [](void*, const char* message) {
            log::Debug("postgres notice", {{"notice", message}});
        },
        nullptr);
    co_return std::unique_ptr<Connection>(new Connection(std::move(impl)));
}

Task<Result> Connection::ExecuteParams(std::string_view sql, std::vector<Param> params) {
    if (impl_->begin_pending || !impl_->held.empty()) {
        std::vector<Statement> one;
        one.push_back(Statement{std::string(sql), std::move(params)});
        auto results = co_await impl_->RunWithHeld(std::move(one));
        co_return std::move(results.back());
    }
    auto* conn = impl_->conn;
    std::string key(sql);
    auto it = impl_->prepared.find(key);
    if (it == impl_->prepared.end()) {
        std::string name = "k" + std::to_string(impl_->next_name++);
        if (!PQsendPrepare(conn, name.c_str(), key.c_str(), 0, nullptr)) {
            throw ConnectionError("postgres prepare: " + ErrorText(conn));
        }
        co_await impl_->Collect();
        it = impl_->prepared.emplace(std::move(key), std::move(name)).first;
    }
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    if (!PQsendQueryPrepared(conn, it->second.c_str(), static_cast<int>(values.size()),
                             values.data(), nullptr, nullptr, 0)) {
        throw ConnectionError("postgres send: " + ErrorText(conn));
    }
    co_return co_await impl_->Collect();
}

Task<std::vector<Result>> Connection::ExecuteMany(std::vector<Statement> statements) {
    if (statements.empty()) co_return std::vector<Result>{};
    co_return co_await impl_->RunWithHeld(std::move(statements));
}

Task<void> Connection::ExecuteLaterParams(std::string_view sql, std::vector<Param> params) {
    if (impl_->begin_pending || PQtransactionStatus(impl_->conn) == PQTRANS_INTRANS) {
        impl_->held.push_back(Statement{std::string(sql), std::move(params)});
        co_return;
    }
    co_await ExecuteParams(sql, std::move(params));
}

void Connection::BeginLazily() {
    impl_->begin_pending = true;
    impl_->held.clear();
    impl_->on_commit.clear();
}

Task<void> Connection::Commit() {
    auto callbacks = std::move(impl_->on_commit);
    impl_->on_commit.clear();
    auto run = [&callbacks] {
        for (auto& callback : callbacks) {
            try {
                callback();
            } catch (const std::exception& e) {
                log::Error("commit callback failed", {{"error", e.what()}});
            }
        }
    };
    if (impl_->begin_pending && impl_->held.empty()) {
        impl_->begin_pending = false;  // nothing ever reached the server
        run();
        co_return;
    }
    bool unknown = false;
    std::exception_ptr failure;
    try {
        co_await Execute("COMMIT");
    } catch (const ConnectionError&) {
        unknown = true;  // the COMMIT may have been applied before the connection broke
        failure = std::current_exception();
    }
    if (!failure || unknown) run();
    if (failure) std::rethrow_exception(failure);
}

Task<void> Connection::Rollback() {
    impl_->on_commit.clear();
    impl_->held.clear();
    if (impl_->begin_pending) {
        impl_->begin_pending = false;
        co_return;
    }
    co_await ExecuteScript("ROLLBACK");
}

void Connection::OnCommit(std::function<void()> callback) {
    impl_->on_commit.push_back(std::move(callback));
}

Task<void> Connection::ExecuteScript(std::string_view sql) {
    if (impl_->begin_pending || !impl_->held.empty()) {
        std::vector<Statement> none;
        co_await impl_->RunWithHeld(std::move(none));
    }
    std::string text(sql);
    if (!PQsendQuery(impl_->conn, text.c_str()))
        throw ConnectionError("postgres send: " + ErrorText(impl_->conn));
    co_await impl_->Collect();
}

bool Connection::Broken() const { return PQstatus(impl_->conn) != CONNECTION_OK; }

bool Connection::InTransaction() const {
    return impl_->begin_pending || !impl_->held.empty() ||
           PQtransactionStatus(impl_->conn) != PQTRANS_IDLE;
}

}  // namespace keel::pg
