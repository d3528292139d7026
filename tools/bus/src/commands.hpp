// The keel-bus commands. Each returns the process exit code, throws UsageError (exit 2)
// for a command line that cannot work and anything else for runtime failures (exit 1).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace keel::bus_tool {

struct TailOptions {
    std::string topic;
    bool from_start = false;
    std::optional<std::uint64_t> last;
    std::optional<std::uint64_t> count;
    std::optional<double> timeout_s;
};
int Tail(const std::string& server, const TailOptions& options);

struct TrailOptions {
    std::string id;
    bool json = false;
};
int Trail(const std::string& server, const TrailOptions& options);

int Lag(const std::string& server, bool json);

struct ReplayOptions {
    std::string consumer;
    std::string from;    // RFC 3339 time or stream sequence
    std::string stream;  // "" = find it
};
int Replay(const std::string& server, const ReplayOptions& options);

struct DlqOptions {
    std::string topic;
    std::optional<std::uint64_t> seq;
    std::string consumer;
    bool json = false;
};
int DlqList(const std::string& server, const DlqOptions& options);
int DlqRetry(const std::string& server, const DlqOptions& options);

struct PublishOptions {
    std::string topic;
    std::string payload;
    std::string correlation_id;
};
int Publish(const std::string& server, const PublishOptions& options);

struct GraphOptions {
    std::string format = "dot";
    std::string output;
    bool rates = true;
    double window_s = 1.0;
};
int Graph(const std::string& server, const GraphOptions& options);

/// Throws UsageError naming the known topics unless `topic` has an embedded schema.
void RequireTopic(const std::string& topic);

}  // namespace keel::bus_tool
