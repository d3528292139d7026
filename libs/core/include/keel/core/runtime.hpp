#pragma once
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <keel/core/asio.hpp>

namespace keel {

/// Launches `task` on `executor`; an exception that escapes it is logged with
/// `what` instead of being lost (never use asio::detached for that).
void Spawn(const asio::any_io_executor& executor, Task<void> task, std::string what);

/// The process runtime: one io_context run by N threads, and SIGINT/SIGTERM turned
/// into an orderly shutdown. Shutdown hooks run in registration order on an io
/// thread (e.g. stop accepting, drain in-flight requests, close pools); when the
/// last finishes the io_context stops and Run() returns 0.
/// Not copyable; register hooks before Run().
class Runtime final {
public:
    /// threads == 0 means one per core.
    explicit Runtime(std::size_t threads = 0);
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    asio::io_context& Context() { return context_; }
    asio::any_io_executor Executor() { return context_.get_executor(); }
    std::size_t Threads() const { return threads_; }

    void OnShutdown(std::function<Task<void>()> hook);
    /// Blocks until shutdown completes; returns the process exit code.
    int Run();
    /// Starts the same shutdown a signal would.
    void RequestShutdown();

private:
    Task<void> Shutdown();

    std::size_t threads_;
    asio::io_context context_;
    std::vector<std::function<Task<void>()>> hooks_;
    bool shutting_down_ = false;
};

}  // namespace keel
