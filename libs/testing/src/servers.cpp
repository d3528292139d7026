#include <keel/testing/servers.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

namespace keel::testing {
namespace {

constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

bool IsRoot() { return geteuid() == 0; }

// Prefix that runs a command as the postgres system user when we are root.
std::string AsPostgres(const std::string& command) {
    if (!IsRoot()) return command;
    return "runuser -u postgres -- " + command;
}

std::string MakeTempDir(const char* prefix) {
    std::string pattern = std::string("/tmp/") + prefix + "XXXXXX";
    if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    return pattern;
}

pid_t Launch(const std::vector<std::string>& argv, const std::string& log, bool as_postgres) {
    const pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        setpgid(0, 0);
        FILE* out = std::fopen(log.c_str(), "a");
        if (out) {
            dup2(fileno(out), STDOUT_FILENO);
            dup2(fileno(out), STDERR_FILENO);
        }
        if (as_postgres && IsRoot()) {
            const passwd* pw = getpwnam("postgres");
            if (!pw || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) _exit(126);
        }
        // Nothing else of the test process: a server outliving a killed test must not hold
        // its descriptors (e.g. the build lock `flock` handed down).
        closefrom(STDERR_FILENO + 1);
        std::vector<char*> args;
        args.reserve(argv.size() + 1);
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    return pid;
}

void Terminate(pid_t& pid, int signal) {
    if (pid <= 0) return;
    kill(pid, signal);
    int status = 0;
    for (int i = 0; i < 200; ++i) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            pid = -1;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    pid = -1;
}

bool WaitFor(const std::string& command, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (std::system((command + " >/dev/null 2>&1").c_str()) == 0) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

}  // namespace

std::string Shell(const std::string& command) {
    std::string output;
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (!pipe) throw std::runtime_error("popen failed: " + command);
    std::array<char, 4096> buffer;
    while (std::fgets(buffer.data(), buffer.size(), pipe)) output += buffer.data();
    const int status = pclose(pipe);
    if (status != 0) throw std::runtime_error("command failed: " + command + "\n" + output);
    return output;
}

std::uint16_t FreePort() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("FreePort: socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close(fd);
        throw std::runtime_error("FreePort: bind to 127.0.0.1:0 failed");
    }
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
}

PgServer& PgServer::Shared() {
    static PgServer server;
    return server;
}

PgServer::PgServer() {
    dir_ = MakeTempDir("keel-pg-");
    if (IsRoot()) Shell("chown postgres: " + dir_);
    Shell(AsPostgres(std::string(kPgBin) + "/initdb -D " + dir_ +
                     "/data -U postgres --auth=trust -E UTF8 --no-sync"));
    port_ = FreePort();
    Start();
}

PgServer::~PgServer() {
    Stop();
    std::system(("rm -rf " + dir_).c_str());
}

void PgServer::Start() {
    pid_ = Launch(
        {std::string(kPgBin) + "/postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-k",
         dir_, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
         "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"},
        dir_ + "/postgres.log", true);
    const std::string ready = "/usr/bin/pg_isready -q -h 127.0.0.1 -p " + std::to_string(port_);
    if (!WaitFor(ready, std::chrono::seconds(30)))
        throw std::runtime_error("postgres did not start; see " + dir_);
}

void PgServer::Stop() { Terminate(pid_, SIGINT); }  // SIGINT: fast shutdown

void PgServer::Restart() {
    Stop();
    Start();
}

std::string PgServer::CreateDatabase(const std::string& name) {
    const std::string psql = "/usr/bin/psql -q -h 127.0.0.1 -p " + std::to_string(port_) +
                             " -U postgres -d postgres -c ";
    Shell(psql + "'DROP DATABASE IF EXISTS \"" + name + "\"'");
    Shell(psql + "'CREATE DATABASE \"" + name + "\"'");
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + name + " user=postgres";
}

RedisServer& RedisServer::Shared() {
    static RedisServer server;
    return server;
}

RedisServer::RedisServer() {
    dir_ = MakeTempDir("keel-redis-");
    port_ = FreePort();
    Start();
}

RedisServer::RedisServer(std::string password) : password_(std::move(password)) {
    dir_ = MakeTempDir("keel-redis-");
    port_ = FreePort();
    Start();
}

RedisServer::~RedisServer() {
    Stop();
    std::system(("rm -rf " + dir_).c_str());
}

void RedisServer::Start() {
    // The password in a config file (mode 600), as deploy/compose/db.yaml does: not in argv.
    const std::string config = dir_ + "/redis.conf";
    FILE* f = std::fopen(config.c_str(), "w");
    if (!f) throw std::runtime_error("cannot write " + config);
    if (!password_.empty()) std::fprintf(f, "requirepass \"%s\"\n", password_.c_str());
    std::fclose(f);
    chmod(config.c_str(), 0600);
    pid_ = Launch({"/usr/bin/redis-server", config, "--port", std::to_string(port_), "--bind",
                   "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir_},
                  dir_ + "/redis.log", false);
    // Without the password the server answers NOAUTH: up as well.
    if (!WaitFor(
            "/usr/bin/redis-cli -p " + std::to_string(port_) + " ping | grep -q -e PONG -e NOAUTH",
            std::chrono::seconds(10))) {
        throw std::runtime_error("redis did not start; see " + dir_);
    }
}

void RedisServer::Stop() { Terminate(pid_, SIGTERM); }

void RedisServer::Restart() {
    Stop();
    Start();
}

NatsServer& NatsServer::Shared() {
    static NatsServer server;
    return server;
}

NatsServer::NatsServer() {
    dir_ = MakeTempDir("keel-nats-");
    port_ = FreePort();
    Start();
}

NatsServer::NatsServer(std::string extra_config) : extra_config_(std::move(extra_config)) {
    dir_ = MakeTempDir("keel-nats-");
    port_ = FreePort();
    Start();
}

NatsServer::~NatsServer() {
    Stop(SIGTERM);
    std::system(("rm -rf " + dir_).c_str());
}

void NatsServer::Start() {
    // JetStream limits stated explicitly: the default memory store is 75% of RAM.
    const std::string config = dir_ + "/nats.conf";
    FILE* f = std::fopen(config.c_str(), "w");
    if (!f) throw std::runtime_error("cannot write " + config);
    std::fprintf(f,
                 "listen: 127.0.0.1:%u\njetstream { store_dir: \"%s/js\", max_memory_store: 64MB, "
                 "max_file_store: 16GB }\n",
                 static_cast<unsigned>(port_), dir_.c_str());
    std::fputs(extra_config_.c_str(), f);
    std::fputs("\n", f);
    std::fclose(f);
    chmod(config.c_str(), 0600);
    pid_ = Launch({"/usr/sbin/nats-server", "-c", config}, dir_ + "/nats.log", false);
    const std::string probe = "/usr/bin/bash -c 'exec 3<>/dev/tcp/127.0.0.1/" +
                              std::to_string(port_) + " && head -c 4 <&3 | grep -q INFO'";
    if (!WaitFor(probe, std::chrono::seconds(15)))
        throw std::runtime_error("nats-server did not start; see " + dir_);
}

void NatsServer::Stop(int signal) { Terminate(pid_, signal); }

void NatsServer::Restart(bool kill) {
    Stop(kill ? SIGKILL : SIGTERM);
    Start();
}

}  // namespace keel::testing
