// keel-bus dlq: the dead letters (stream DLQ, subject dlq.<topic>), listed or sent back
// to their topic.
#include <boost/json/serialize.hpp>

#include <iostream>

#include <keel/bus/envelope.hpp>
#include <keel/bus/nats.hpp>

#include "commands.hpp"
#include "errors.hpp"
#include "jetstream.hpp"
#include "reader.hpp"
#include "text.hpp"

namespace keel::bus_tool {
namespace json = boost::json;

namespace {

struct DeadLetter {
    StoredMessage msg;
    std::string topic;

    const std::string& Consumer() const { return msg.Header(bus::header::kDlqConsumer); }
    const std::string& EventId() const { return msg.Header(bus::header::kEventId); }
    std::int64_t Deliveries() const {
        const auto& text = msg.Header(bus::header::kDlqDeliveries);
        return text.empty() ? 0 : std::strtoll(text.c_str(), nullptr, 10);
    }
};

std::vector<DeadLetter> Select(bus::Nats& nats, const DlqOptions& options) {
    const std::string filter = options.topic.empty() ? "dlq.>" : "dlq." + options.topic;
    StartAt start{StartAt::Kind::kAll};
    if (options.seq) start = StartAt{StartAt::Kind::kSequence, *options.seq};
    std::vector<DeadLetter> out;
    ReadStored(nats, bus::kDlqStream, filter, start, [&](const StoredMessage& m) {
        if (options.seq && m.seq != *options.seq) return false;
        DeadLetter d{m, m.subject.substr(4)};  // "dlq."
        if (options.consumer.empty() || d.Consumer() == options.consumer)
            out.push_back(std::move(d));
        return !options.seq;
    });
    if (options.seq && out.empty())
        throw ToolError("no dead letter with DLQ seq " + std::to_string(*options.seq) +
                        " matching the filters");
    return out;
}

}  // namespace

int DlqList(const std::string& server, const DlqOptions& options) {
    if (!options.topic.empty()) RequireTopic(options.topic);
    auto nats = Connect(server);
    const auto letters = Select(*nats, options);
    if (options.json) {
        json::array out;
        for (const auto& d : letters)
            out.push_back(
                json::object{{"seq", d.msg.seq},
                             {"time", FormatTime(d.msg.time_ns)},
                             {"topic", d.topic},
                             {"consumer", d.Consumer()},
                             {"deliveries", d.Deliveries()},
                             {"event_id", d.EventId()},
                             {"correlation_id", d.msg.Header(bus::header::kCorrelationId)},
                             {"error", d.msg.Header(bus::header::kDlqError)},
                             {"stream_seq", d.msg.Header(bus::header::kDlqStreamSeq)}});
        std::cout << json::serialize(out) << '\n';
        return 0;
    }
    if (letters.empty()) {
        std::cout << "no dead letters\n";
        return 0;
    }
    Table table({"SEQ", "TIME", "TOPIC", "CONSUMER", "DELIVERIES", "EVENT_ID", "ERROR"},
                {true, false, false, false, true});
    for (const auto& d : letters)
        table.Add({std::to_string(d.msg.seq), FormatTime(d.msg.time_ns), d.topic, d.Consumer(),
                   std::to_string(d.Deliveries()), d.EventId(),
                   d.msg.Header(bus::header::kDlqError)});
    table.Print(std::cout);
    return 0;
}

int DlqRetry(const std::string& server, const DlqOptions& options) {
    if (!options.topic.empty()) RequireTopic(options.topic);
    auto nats = Connect(server);
    const JetStream js(nats);
    const auto letters = Select(*nats, options);
    int retried = 0;
    for (const auto& d : letters) {
        auto msg = bus::NewMsg(d.topic, d.msg.data);
        for (const char* key :
             {bus::header::kEventId, bus::header::kCorrelationId, bus::header::kCausationId,
              bus::header::kFingerprint, bus::header::kProducedAt, bus::header::kTrail,
              bus::header::kTraceparent}) {
            const auto& value = d.msg.Header(key);
            if (!value.empty()) bus::SetHeader(msg.get(), key, value);
        }
        // Not the event id alone: the topic's duplicate window would drop the copy. Per DLQ
        // message, so that running retry again after a failed delete publishes nothing twice.
        const auto msg_id = (d.EventId().empty() ? std::string("dlq") : d.EventId()) +
                            ":retry:" + std::to_string(d.msg.seq);
        const auto seq = nats->Publish(msg.get(), msg_id);
        js.DeleteMessage(bus::kDlqStream, d.msg.seq);
        ++retried;
        std::cout << "DLQ seq " << d.msg.seq << ": event " << d.EventId() << " republished to "
                  << d.topic << " (stream seq " << seq << "), dead letter deleted\n";
    }
    std::cout << "retried " << retried << " dead letter" << (retried == 1 ? "" : "s") << '\n';
    return 0;
}

}  // namespace keel::bus_tool
