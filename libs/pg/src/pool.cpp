#include <keel/pg/pool.hpp>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>

#include <deque>
#include <mutex>

#include <keel/core/log.hpp>

namespace keel::pg {

struct Pool::State {
    std::mutex mutex;
    std::vector<std::unique_ptr<Connection>> idle;
    std::size_t total = 0;  // idle + leased + being connected
    std::deque<std::shared_ptr<asio::steady_timer>> waiters;

    void WakeOne() {
        if (waiters.empty()) return;
        auto timer = std::move(waiters.front());
        waiters.pop_front();
        asio::post(timer->get_executor(), [timer] { timer->cancel(); });
    }
};

std::shared_ptr<Pool> Pool::Create(asio::any_io_executor executor, PoolOptions options) {
    return std::make_shared<Pool>(std::move(executor), std::move(options));
}

Pool::Pool(asio::any_io_executor executor, PoolOptions options)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      state_(std::make_shared<State>()) {}

Pool::Lease::Lease(std::shared_ptr<Pool> pool, std::unique_ptr<Connection> connection)
    : pool_(std::move(pool)), connection_(std::move(connection)) {}

Pool::Lease::~Lease() {
    if (pool_ && connection_) pool_->Release(std::move(connection_));
}

void Pool::Release(std::unique_ptr<Connection> connection) {
    std::lock_guard lock(state_->mutex);
    if (connection->Broken() || connection->InTransaction()) {
        // Closing the connection makes the server roll back what it had open.
        connection.reset();
        --state_->total;
    } else {
        state_->idle.push_back(std::move(connection));
    }
    state_->WakeOne();
}

void Pool::DropIdle() {
    std::vector<std::unique_ptr<Connection>> dropped;
    std::lock_guard lock(state_->mutex);
    state_->total -= state_->idle.size();
    dropped.swap(state_->idle);
}

Task<Pool::Lease> Pool::Acquire() {
    auto self = shared_from_this();
    const auto deadline = std::chrono::steady_clock::now() + options_.acquire_timeout;
    const auto executor = co_await asio::this_coro::executor;
    for (;;) {
        std::shared_ptr<asio::steady_timer> timer;
        bool may_connect = false;
        {
            std::lock_guard lock(state_->mutex);
            if (!state_->idle.empty()) {
                auto connection = std::move(state_->idle.back());
                state_->idle.pop_back();
                co_return Lease(self, std::move(connection));
            }
            if (state_->total < options_.max_size) {
                ++state_->total;
                may_connect = true;
            } else {
                timer = std::make_shared<asio::steady_timer>(executor);
                timer->expires_at(deadline);
                state_->waiters.push_back(timer);
            }
        }
        if (may_connect) {
            std::exception_ptr failure;
            try {
                auto connection = co_await Connection::Connect(options_);
                co_return Lease(self, std::move(connection));
            } catch (...) {
                failure = std::current_exception();
            }
            {
                std::lock_guard lock(state_->mutex);
                --state_->total;
                state_->WakeOne();
            }
            std::rethrow_exception(failure);
        }
        boost::system::error_code ec;
        co_await timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!ec && std::chrono::steady_clock::now() >= deadline) {
            std::lock_guard lock(state_->mutex);
            std::erase(state_->waiters, timer);
            if (state_->idle.empty())
                throw ConnectionError(
                    "postgres pool exhausted: no connection within the acquire timeout");
        }
    }
}

Task<Result> Pool::ExecuteParams(std::string_view sql, std::vector<Param> params) {
    auto lease = co_await Acquire();
    try {
        co_return co_await lease->ExecuteParams(sql, std::move(params));
    } catch (const ConnectionError&) {
        // The server probably restarted: the other idle connections are dead too.
        DropIdle();
        throw;
    }
}

Task<void> Pool::Transaction(std::function<Task<void>(Connection&)> body) {
    auto lease = co_await Acquire();
    lease->BeginLazily();  // BEGIN goes with the first statement: one round trip fewer
    std::exception_ptr failure;
    try {
        co_await body(*lease);
        co_await lease->Commit();
        co_return;
    } catch (...) {
        failure = std::current_exception();
    }
    // A cancelled coroutine (a handler deadline) cannot wait for a ROLLBACK either: the
    // lease closes the connection, still in its transaction, and the server rolls back.
    const auto cancellation = co_await asio::this_coro::cancellation_state;
    if (cancellation.cancelled() != asio::cancellation_type::none) {
        std::rethrow_exception(failure);
    }
    if (!lease->Broken()) {
        try {
            co_await lease->Rollback();
        } catch (const std::exception& e) {
            log::Warn("rollback failed", {{"error", e.what()}});
        }
    } else {
        DropIdle();
    }
    std::rethrow_exception(failure);
}

Task<bool> Pool::Ping() {
    try {
        auto result = co_await Execute("SELECT 1");
        co_return result.Rows() == 1;
    } catch (const std::exception&) {
        co_return false;
    }
}

std::size_t Pool::Size() const {
    std::lock_guard lock(state_->mutex);
    return state_->total;
}

}  // namespace keel::pg
