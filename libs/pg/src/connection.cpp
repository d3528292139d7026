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
    auto* conn = impl_->conn;
    std::string key(sql);
    auto it = impl_->prepared.find(key);
    if (it == impl_->prepared.end()) {
        std::string name = "k" + std::to_string(impl_->prepared.size());
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

Task<void> Connection::ExecuteScript(std::string_view sql) {
    std::string text(sql);
    if (!PQsendQuery(impl_->conn, text.c_str()))
        throw ConnectionError("postgres send: " + ErrorText(impl_->conn));
    co_await impl_->Collect();
}

bool Connection::Broken() const { return PQstatus(impl_->conn) != CONNECTION_OK; }

bool Connection::InTransaction() const { return PQtransactionStatus(impl_->conn) != PQTRANS_IDLE; }

}  // namespace keel::pg
