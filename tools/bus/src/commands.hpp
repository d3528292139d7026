// The keel-bus commands. Each returns the process exit code, throws UsageError (exit 2)
// for a command line that cannot work and anything else for runtime failures (exit 1).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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
    std::string schema_file;  // write with this version of the topic's schema (registered)
};
int Publish(const std::string& server, const PublishOptions& options);

struct GraphOptions {
    std::string format = "dot";
    std::string output;
    bool rates = true;
    double window_s = 1.0;
};
int Graph(const std::string& server, const GraphOptions& options);

/// outbox parked / unpark / republish: one service's outbox in its PostgreSQL database.
struct OutboxOptions {
    std::string service;
    std::string db;     // libpq DSN; "" = $PG_DSN, else the local stack's database of `service`
    bool json = false;  // parked
    std::vector<std::string> ids;  // unpark: outbox seqs or event ids
    bool all = false;              // unpark
    std::string since;             // republish: RFC 3339
    std::string until;             // republish: RFC 3339, "" = now and later
};
int OutboxParked(const OutboxOptions& options);
int OutboxUnpark(const OutboxOptions& options);
int OutboxRepublish(const OutboxOptions& options);

/// Throws UsageError naming the known topics unless `topic` has an embedded schema.
void RequireTopic(const std::string& topic);

}  // namespace keel::bus_tool
