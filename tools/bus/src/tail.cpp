// keel-bus tail: a topic's messages as JSON lines, decoded with the embedded schemas.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <csignal>
#include <iostream>

#include <keel/bus/codec.hpp>
#include <keel/bus/envelope.hpp>

#include "commands.hpp"
#include "jetstream.hpp"
#include "reader.hpp"
#include "text.hpp"

namespace keel::bus_tool {
namespace json = boost::json;

namespace {

std::atomic<bool> g_stop{false};

extern "C" void OnStopSignal(int) { g_stop = true; }

json::value TrailValue(const std::string& header) {
    if (header.empty()) return json::array();
    try {
        return json::parse(header);
    } catch (const std::exception&) {
        return json::value(header);  // shown as it is rather than dropped
    }
}

json::object Line(const StoredMessage& m) {
    json::value payload = nullptr;
    std::string decode_error;
    try {
        payload = bus::Codec::Embedded().Decode(m.subject, m.data);
    } catch (const bus::DecodeError& e) {
        decode_error = e.what();
    }
    json::object line;
    line["seq"] = m.seq;
    line["time"] = FormatTime(m.time_ns);
    line["event_id"] = m.Header(bus::header::kEventId);
    line["correlation_id"] = m.Header(bus::header::kCorrelationId);
    line["causation_id"] = m.Header(bus::header::kCausationId);
    line["topic"] = m.subject;
    line["payload"] = std::move(payload);
    line["trail"] = TrailValue(m.Header(bus::header::kTrail));
    if (!decode_error.empty()) line["decode_error"] = decode_error;
    return line;
}

// The start of the last `n` messages of `topic`: the greatest stream sequence from which
// at least `n` of them remain (binary search over consumer counts: O(log) requests
// instead of reading the whole topic).
StartAt StartOfLast(const JetStream& js, const std::string& stream, const std::string& topic,
                    std::uint64_t n) {
    if (n == 0) return StartAt{StartAt::Kind::kNew};
    const auto info = js.StreamInfo(stream, topic);
    if (!info) throw MissingStream("stream " + stream + " does not exist");
    const auto& state = info->at("state").as_object();
    const auto total = static_cast<std::uint64_t>(Int(state, "subjects", topic));
    if (total <= n) return StartAt{StartAt::Kind::kAll};
    auto lo = static_cast<std::uint64_t>(Int(state, "first_seq"));     // count(lo) >= n
    auto hi = static_cast<std::uint64_t>(Int(state, "last_seq")) + 1;  // count(hi) < n
    while (hi - lo > 1) {
        const auto mid = lo + (hi - lo) / 2;
        (js.CountFrom(stream, topic, mid) >= n ? lo : hi) = mid;
    }
    return StartAt{StartAt::Kind::kSequence, lo};
}

}  // namespace

int Tail(const std::string& server, const TailOptions& options) {
    RequireTopic(options.topic);
    const auto started = std::chrono::steady_clock::now();
    auto nats = Connect(server);
    const JetStream js(nats);
    const auto stream = bus::StreamOf(options.topic);
    StartAt start{StartAt::Kind::kNew};
    if (options.from_start)
        start.kind = StartAt::Kind::kAll;
    else if (options.last)
        start = StartOfLast(js, stream, options.topic, *options.last);
    std::signal(SIGINT, OnStopSignal);
    std::signal(SIGTERM, OnStopSignal);
    StreamReader reader(*nats, stream, options.topic, start);
    std::uint64_t printed = 0;
    while (!g_stop && (!options.count || printed < *options.count)) {
        auto wait = std::chrono::milliseconds(200);
        if (options.timeout_s) {
            const auto left = started + std::chrono::duration<double>(*options.timeout_s) -
                              std::chrono::steady_clock::now();
            if (left <= std::chrono::milliseconds(0)) break;
            wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(left));
        }
        const auto msg = reader.Next(wait);
        if (!msg) continue;
        std::cout << json::serialize(Line(*msg)) << '\n' << std::flush;
        ++printed;
    }
    return 0;
}

}  // namespace keel::bus_tool
