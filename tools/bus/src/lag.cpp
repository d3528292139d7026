// keel-bus lag: how far every durable consumer is behind its stream.
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <iostream>

#include <keel/bus/consumer_position.hpp>

#include "commands.hpp"
#include "jetstream.hpp"
#include "text.hpp"

namespace keel::bus_tool {
namespace json = boost::json;

namespace {

struct ConsumerLag {
    std::string stream;
    std::string consumer;
    bus::ConsumerPosition position;
};

std::vector<ConsumerLag> Collect(const JetStream& js) {
    std::vector<ConsumerLag> out;
    for (const auto& stream : js.StreamNames()) {
        for (const auto& info : js.Consumers(stream)) {
            const auto* config = info.if_contains("config");
            if (config == nullptr || !config->is_object() ||
                Str(config->as_object(), "durable_name").empty())
                continue;  // ephemeral: someone's tail, not a service
            ConsumerLag c;
            c.stream = stream;
            c.consumer = Str(info, "name");
            c.position = bus::PositionFromInfo(info);
            out.push_back(std::move(c));
        }
    }
    std::sort(out.begin(), out.end(), [](const ConsumerLag& a, const ConsumerLag& b) {
        return std::tie(a.stream, a.consumer) < std::tie(b.stream, b.consumer);
    });
    return out;
}

}  // namespace

int Lag(const std::string& server, bool as_json) {
    const JetStream js(Connect(server));
    const auto consumers = Collect(js);
    if (as_json) {
        json::array out;
        for (const auto& c : consumers)
            out.push_back(json::object{{"stream", c.stream},
                                       {"consumer", c.consumer},
                                       {"pending", c.position.pending},
                                       {"ack_pending", c.position.ack_pending},
                                       {"redelivered", c.position.redelivered},
                                       {"last_delivered_seq", c.position.last_delivered_seq},
                                       {"lag", c.position.Lag()}});
        std::cout << json::serialize(out) << '\n';
        return 0;
    }
    if (consumers.empty()) {
        std::cout << "no durable consumers\n";
        return 0;
    }
    Table table({"STREAM", "CONSUMER", "PENDING", "ACK_PENDING", "REDELIVERED",
                 "LAST_DELIVERED_SEQ", "LAG"},
                {false, false, true, true, true, true, true});
    for (const auto& c : consumers) {
        const auto& p = c.position;
        table.Add({c.stream, c.consumer, std::to_string(p.pending), std::to_string(p.ack_pending),
                   std::to_string(p.redelivered), std::to_string(p.last_delivered_seq),
                   std::to_string(p.Lag())});
    }
    table.Print(std::cout);
    return 0;
}

}  // namespace keel::bus_tool
