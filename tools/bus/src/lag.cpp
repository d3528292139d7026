// keel-bus lag: how far every durable consumer is behind its stream.
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <iostream>

#include "commands.hpp"
#include "jetstream.hpp"
#include "text.hpp"

namespace keel::bus_tool {
namespace json = boost::json;

namespace {

struct ConsumerLag {
    std::string stream;
    std::string consumer;
    std::int64_t pending = 0;
    std::int64_t ack_pending = 0;
    std::int64_t redelivered = 0;
    std::int64_t last_delivered = 0;
    std::int64_t Lag() const { return pending + ack_pending; }
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
            c.pending = Int(info, "num_pending");
            c.ack_pending = Int(info, "num_ack_pending");
            c.redelivered = Int(info, "num_redelivered");
            c.last_delivered = Int(info, "delivered", "stream_seq");
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
                                       {"pending", c.pending},
                                       {"ack_pending", c.ack_pending},
                                       {"redelivered", c.redelivered},
                                       {"last_delivered_seq", c.last_delivered},
                                       {"lag", c.Lag()}});
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
    for (const auto& c : consumers)
        table.Add({c.stream, c.consumer, std::to_string(c.pending), std::to_string(c.ack_pending),
                   std::to_string(c.redelivered), std::to_string(c.last_delivered),
                   std::to_string(c.Lag())});
    table.Print(std::cout);
    return 0;
}

}  // namespace keel::bus_tool
