#include <keel/core/runtime.hpp>

#include <boost/asio/signal_set.hpp>

#include <keel/core/log.hpp>

namespace keel {

void Spawn(const asio::any_io_executor& executor, Task<void> task, std::string what) {
    asio::co_spawn(
        executor, std::move(task), [what = std::move(what)](const std::exception_ptr& error) {
            if (!error) return;
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                log::Error("background task failed", {{"task", what}, {"error", e.what()}});
            } catch (...) {
                log::Error("background task failed", {{"task", what}, {"error", "unknown"}});
            }
        });
}

Runtime::Runtime(std::size_t threads)
    : threads_(threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency())),
      context_(static_cast<int>(threads_)) {}

void Runtime::OnShutdown(std::function<Task<void>()> hook) { hooks_.push_back(std::move(hook)); }

void Runtime::RequestShutdown() {
    asio::post(context_, [this] {
        if (shutting_down_) return;
        shutting_down_ = true;
        Spawn(Executor(), Shutdown(), "shutdown");
    });
}

Task<void> Runtime::Shutdown() {
    for (auto& hook : hooks_) {
        try {
            co_await hook();
        } catch (const std::exception& e) {
            log::Error("shutdown hook failed", {{"error", e.what()}});
        }
    }
    context_.stop();
}

int Runtime::Run() {
    // Start-up work run with run_one() may have left the context stopped (out of work).
    context_.restart();
    asio::signal_set signals(context_, SIGINT, SIGTERM);
    signals.async_wait([this](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        log::Info("signal received, draining", {{"signal", static_cast<std::int64_t>(signal)}});
        RequestShutdown();
    });
    std::vector<std::thread> workers;
    workers.reserve(threads_ - 1);
    for (std::size_t i = 1; i < threads_; ++i) workers.emplace_back([this] { context_.run(); });
    context_.run();
    for (auto& worker : workers) worker.join();
    return 0;
}

}  // namespace keel
