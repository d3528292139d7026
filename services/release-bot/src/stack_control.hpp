#pragma once
#include <chrono>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include <keel/core/asio.hpp>

namespace keel::release_bot {

/// keel-stack's answer to one control command.
struct ControlReply {
    bool reachable = false;          // false: no socket, refused, broken or timed out (`error`)
    bool ok = false;                 // the command's own verdict ({"ok": ...})
    std::vector<std::string> lines;  // its progress lines ({"msg": ...}), in order
    boost::json::value result;       // its {"result": ...} (null when it sent none)
    std::string error;
};

/// keel-stack's control commands (tools/stack/keel_stack/release.py): "ps" {metrics},
/// "release" {service}, "rollback" {service}. An interface because the bot's tests need a
/// second implementation.
class StackControl {
public:
    virtual ~StackControl() = default;
    /// Sends `request` and reads the answer to its end. `request` by value: the coroutine keeps it.
    virtual Task<ControlReply> Call(boost::json::object request,
                                    std::chrono::milliseconds deadline) = 0;
};

/// Over keel-stack's Unix socket (KEEL_STACK_SOCKET): one connection per command, a JSON line
/// out, JSON lines back until the socket closes. Who may connect is decided by the file's
/// permissions (0600, keel-stack's user): no token to leak or rotate, and nothing listens on a
/// port. Thread-safe (no shared state).
class SocketStackControl final : public StackControl {
public:
    explicit SocketStackControl(std::string path) : path_(std::move(path)) {}
    Task<ControlReply> Call(boost::json::object request,
                            std::chrono::milliseconds deadline) override;

private:
    std::string path_;
};

/// Reads one answer line into `reply` (a "msg", the "result" or the "ok"); false for a line that
/// is not a JSON object.
bool ReadControlLine(std::string_view line, ControlReply& reply);

}  // namespace keel::release_bot
