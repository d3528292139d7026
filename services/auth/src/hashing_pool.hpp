#pragma once
#include <atomic>
#include <cstddef>
#include <utility>

#include <boost/asio/thread_pool.hpp>

#include <keel/core/offload.hpp>
#include <keel/core/unavailable.hpp>

namespace keel::auth_service {

/// Thrown by HashingPool::Run when the pool already holds as many jobs as it may.
class HashingBusyError final : public UnavailableError {
public:
    using UnavailableError::UnavailableError;
};

/// Threads for argon2id with a bounded queue. auth keeps one for login verification and
/// one for registration hashing, so that a flood of registrations cannot take the
/// threads (or the queue) that logins need; a full pool refuses at once rather than
/// letting requests queue for ever. Thread-safe; the destructor joins the threads.
class HashingPool final {
public:
    /// `threads` workers; at most `max_jobs` jobs running or waiting (>= threads).
    HashingPool(std::size_t threads, std::size_t max_jobs)
        : pool_(threads), max_jobs_(max_jobs < threads ? threads : max_jobs) {}
    HashingPool(const HashingPool&) = delete;
    HashingPool& operator=(const HashingPool&) = delete;
    ~HashingPool() { pool_.join(); }

    /// Runs `fn` on a worker and resumes the caller on its own executor; its exceptions
    /// propagate. Throws HashingBusyError without running it when the pool is full.
    template <typename F>
    Task<decltype(std::declval<F&>()())> Run(F fn) {
        if (jobs_.fetch_add(1) >= max_jobs_) {
            jobs_.fetch_sub(1);
            throw HashingBusyError("hashing pool full");
        }
        // The slot is given back on the worker, as soon as the work is done.
        auto job = [this, fn = std::move(fn)]() mutable {
            struct Release {
                std::atomic<std::size_t>& jobs;
                ~Release() { jobs.fetch_sub(1); }
            } release{jobs_};
            return fn();
        };
        co_return co_await Offload(pool_.get_executor(), std::move(job));
    }

    /// Jobs running or waiting now.
    std::size_t Jobs() const { return jobs_.load(); }

private:
    asio::thread_pool pool_;
    std::size_t max_jobs_;
    std::atomic<std::size_t> jobs_{0};
};

}  // namespace keel::auth_service
