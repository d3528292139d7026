#pragma once
// Tests only: the fake Bot API (tests/fakes/telegram/fake_telegram.py) as a child process on a
// free port. Header-only so that production code never links it; a test binary defines
// KEEL_SOURCE_DIR (keel_add_tests does).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace keel::telegram::testing {

/// Starts the fake accepting `tokens` (several bots, each with its own updates queue; none:
/// any token). Stopped (SIGTERM) when this goes out of scope.
class FakeServer final {
public:
    explicit FakeServer(std::initializer_list<std::string> tokens = {}) {
        std::vector<std::string> args;
        args.reserve(4 + 2 * tokens.size());
        args.emplace_back("/usr/bin/python3");
        args.emplace_back(KEEL_SOURCE_DIR "/tests/fakes/telegram/fake_telegram.py");
        args.emplace_back("--port");
        args.emplace_back("0");
        for (const auto& token : tokens) {
            args.emplace_back("--token");
            args.push_back(token);
        }
        Start(args);
    }
    ~FakeServer() { Stop(); }
    FakeServer(const FakeServer&) = delete;
    FakeServer& operator=(const FakeServer&) = delete;

    /// "http://127.0.0.1:PORT": the Bot API base and the control endpoints (/_fake/...).
    const std::string& Base() const { return base_; }

private:
    void Start(std::vector<std::string>& args) {
        int out[2];
        if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_addclose(&actions, out[0]);
        posix_spawn_file_actions_addclose(&actions, out[1]);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(out[1]);
        if (rc != 0) {
            ::close(out[0]);
            throw std::runtime_error("cannot start " + args[1]);
        }
        const std::string line = ReadLine(out[0]);
        ::close(out[0]);
        const std::string prefix = "listening on ";
        if (!line.starts_with(prefix + "http://127.0.0.1:")) {
            Stop();
            throw std::runtime_error("fake telegram said: " + line);
        }
        base_ = line.substr(prefix.size());
    }
    static std::string ReadLine(int fd) {
        std::string line;
        pollfd p{fd, POLLIN, 0};
        while (::poll(&p, 1, 10'000) == 1) {
            char c = 0;
            if (::read(fd, &c, 1) != 1 || c == '\n') break;
            line.push_back(c);
        }
        return line;
    }
    void Stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }

    pid_t pid_ = -1;
    std::string base_;
};

}  // namespace keel::telegram::testing
