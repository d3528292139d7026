// keel-bus replay: moves a durable consumer's start back (or forward) by deleting it and
// creating it again with the same config and a start sequence or time. JetStream 2.9
// cannot change a durable's start in place.
#include <boost/json/serialize.hpp>

#include <iostream>

#include "commands.hpp"
#include "errors.hpp"
#include "jetstream.hpp"
#include "reader.hpp"
#include "text.hpp"

namespace keel::bus_tool {
namespace json = boost::json;

namespace {

StartAt ParseFrom(const std::string& from) {
    if (!from.empty() && from.find_first_not_of("0123456789") == std::string::npos) {
        if (from.size() > 19 || std::stoull(from) == 0)
            throw UsageError("--from " + from + ": a stream sequence is 1 or more");
        return StartAt{StartAt::Kind::kSequence, std::stoull(from)};
    }
    const auto ns = ParseTime(from);
    if (!ns)
        throw UsageError(
            "--from \"" + from +
            "\": expected an RFC 3339 time (2024-05-01T12:00:00Z, 2024-05-01T14:00:00.5+02:00) "
            "or a stream sequence (a positive integer)");
    return StartAt{StartAt::Kind::kTime, 0, *ns};
}

struct Found {
    std::string stream;
    json::object info;
};

Found Locate(const JetStream& js, const ReplayOptions& options) {
    std::vector<Found> found;
    std::vector<std::string> durables;
    const auto streams =
        options.stream.empty() ? js.StreamNames() : std::vector<std::string>{options.stream};
    for (const auto& stream : streams) {
        if (auto info = js.ConsumerInfo(stream, options.consumer))
            found.push_back({stream, std::move(*info)});
    }
    if (found.size() > 1) {
        std::string names;
        for (const auto& f : found) names += " " + f.stream;
        throw UsageError("consumer " + options.consumer + " exists in several streams (" +
                         names.substr(1) + "): choose one with --stream");
    }
    if (found.empty()) {
        std::string known;
        for (const auto& stream : streams)
            for (const auto& c : js.Consumers(stream))
                if (const auto* cfg = c.if_contains("config");
                    cfg && !Str(cfg->as_object(), "durable_name").empty())
                    known += "\n  " + stream + " " + Str(c, "name");
        throw ToolError(
            "no durable consumer named " + options.consumer +
            (options.stream.empty() ? " in any stream" : " in stream " + options.stream) +
            (known.empty() ? " (there are no durable consumers)" : "; durable consumers:" + known));
    }
    return std::move(found.front());
}

json::object WithStart(json::object config, const StartAt& start) {
    config.erase("opt_start_seq");
    config.erase("opt_start_time");
    config.erase("name");  // DURABLE.CREATE takes the name from durable_name
    if (start.kind == StartAt::Kind::kSequence) {
        config["deliver_policy"] = "by_start_sequence";
        config["opt_start_seq"] = start.sequence;
    } else {
        config["deliver_policy"] = "by_start_time";
        config["opt_start_time"] = FormatTime(start.time_ns);
    }
    return config;
}

std::string Describe(const json::object& config) {
    std::string policy = Str(config, "deliver_policy");
    // (Appended piecewise: `" " + string` trips GCC 12's false -Wrestrict.)
    if (policy == "by_start_sequence")
        policy.append(" ").append(std::to_string(Int(config, "opt_start_seq")));
    if (policy == "by_start_time") policy.append(" ").append(Str(config, "opt_start_time"));
    const auto replicas = Int(config, "num_replicas");
    return "deliver " + policy + ", filter " + Str(config, "filter_subject") + ", ack wait " +
           FormatDuration(Int(config, "ack_wait")) + ", max deliver " +
           std::to_string(Int(config, "max_deliver")) + ", max ack pending " +
           std::to_string(Int(config, "max_ack_pending")) + ", inactive threshold " +
           FormatDuration(Int(config, "inactive_threshold")) + ", replicas " +
           (replicas == 0 ? std::string("as the stream") : std::to_string(replicas));
}

}  // namespace

int Replay(const std::string& server, const ReplayOptions& options) {
    const auto start = ParseFrom(options.from);
    const JetStream js(Connect(server));
    const auto found = Locate(js, options);
    const auto& info = found.info;
    const auto& old_config = info.at("config").as_object();
    if (Str(old_config, "durable_name").empty())
        throw ToolError(options.consumer +
                        " is an ephemeral consumer; only durable consumers can be replayed");
    const auto config = WithStart(old_config, start);
    std::cout << "consumer " << found.stream << " > " << options.consumer << "\n"
              << "  before:    " << Describe(old_config) << "\n"
              << "             delivered up to stream seq " << Int(info, "delivered", "stream_seq")
              << ", acknowledged up to " << Int(info, "ack_floor", "stream_seq") << ", "
              << Int(info, "num_pending") << " pending, " << Int(info, "num_ack_pending")
              << " ack pending\n";
    js.DeleteConsumer(found.stream, options.consumer);
    std::cout << "  deleted\n" << std::flush;
    json::object created;
    try {
        created = js.CreateDurable(found.stream, config);
    } catch (const std::exception& e) {
        // Put the consumer back where it was acknowledged up to, so that services go on.
        const StartAt resume{StartAt::Kind::kSequence,
                             static_cast<std::uint64_t>(Int(info, "ack_floor", "stream_seq")) + 1};
        std::string restored =
            "it was recreated from stream seq " + std::to_string(resume.sequence);
        try {
            js.CreateDurable(found.stream, WithStart(old_config, resume));
        } catch (const std::exception& again) {
            restored = "recreating it as it was failed too: " + std::string(again.what());
        }
        throw ToolError("creating " + options.consumer + " with the new start failed: " + e.what() +
                        "; " + restored);
    }
    std::cout << "  recreated: " << Describe(created.at("config").as_object()) << "\n"
              << "  now " << Int(created, "num_pending") << " pending\n";
    return 0;
}

}  // namespace keel::bus_tool
