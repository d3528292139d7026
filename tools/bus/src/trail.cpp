// keel-bus trail: every hop of a request's events across services, from the TRAIL stream.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <iostream>

#include <keel/bus/envelope.hpp>
#include <keel/bus/nats.hpp>
#include <keel/core/uuid.hpp>

#include "commands.hpp"
#include "errors.hpp"
#include "jetstream.hpp"
#include "reader.hpp"
#include "text.hpp"

namespace keel::bus_tool {
namespace json = boost::json;

namespace {

// A trail record: {"kind","event_id","topic","correlation_id","causation_id","hop":{...}}.
struct Record {
    std::string kind;
    std::string event_id;
    std::string topic;
    std::string correlation_id;
    std::string causation_id;
    std::string service;
    std::string instance;
    std::int64_t start_us = 0;
    std::int64_t duration_us = 0;
    json::object tags;

    std::string Outcome() const {
        auto outcome = Str(tags, "outcome");
        if (!outcome.empty()) return outcome;
        return kind == "publish" ? "published" : "-";
    }
};

std::optional<Record> ParseRecord(std::string_view text) {
    json::value value;
    try {
        value = json::parse(text);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    if (!value.is_object()) return std::nullopt;
    const auto& o = value.as_object();
    Record r;
    r.kind = Str(o, "kind");
    r.event_id = Str(o, "event_id");
    r.topic = Str(o, "topic");
    r.correlation_id = Str(o, "correlation_id");
    r.causation_id = Str(o, "causation_id");
    const auto* hop = o.if_contains("hop");
    if (hop == nullptr || !hop->is_object()) return std::nullopt;
    const auto& h = hop->as_object();
    r.service = Str(h, "service");
    r.instance = Str(h, "instance");
    r.start_us = Int(h, "start_us");
    r.duration_us = Int(h, "duration_us");
    if (const auto* tags = h.if_contains("tags"); tags != nullptr && tags->is_object())
        r.tags = tags->as_object();
    return r;
}

[[noreturn]] void NoTrailStream() {
    throw ToolError(
        "the server has no TRAIL stream: no service has started its bus there (or "
        "BUS_TRAIL=false)");
}

std::vector<Record> RecordsOf(bus::Nats& nats, const std::string& correlation_id) {
    std::vector<Record> records;
    const auto subject = "trail." + bus::SubjectToken(correlation_id);
    const StartAt all{StartAt::Kind::kAll};
    const bool exists =
        ReadStored(nats, bus::kTrailStream, subject, all, [&](const StoredMessage& m) {
            auto r = ParseRecord(m.data);
            if (!r)
                std::cerr << "keel-bus: skipping malformed trail record (TRAIL seq " << m.seq
                          << ")\n";
            else if (r->correlation_id == correlation_id)  // other ids can share a subject token
                records.push_back(std::move(*r));
            return true;
        });
    if (!exists) NoTrailStream();
    return records;
}

// The correlation id of the event `event_id`, from its trail records. An UUIDv7 carries
// its creation time: reading starts a little before it instead of at the beginning.
std::optional<std::string> CorrelationOfEvent(bus::Nats& nats, const std::string& event_id) {
    StartAt start{StartAt::Kind::kAll};
    if (const auto uuid = Uuid::Parse(event_id); uuid && (uuid->Bytes()[6] >> 4) == 7) {
        std::int64_t ms = 0;
        for (int i = 0; i < 6; ++i) ms = ms << 8 | uuid->Bytes()[i];
        start = StartAt{StartAt::Kind::kTime, 0, (ms - std::int64_t{10} * 60 * 1000) * 1'000'000};
    }
    std::optional<std::string> found;
    const bool exists =
        ReadStored(nats, bus::kTrailStream, "trail.>", start, [&](const StoredMessage& m) {
            const auto r = ParseRecord(m.data);
            if (r && r->event_id == event_id) found = r->correlation_id;
            return !found;
        });
    if (!exists) NoTrailStream();
    return found;
}

void PrintTable(const std::string& correlation_id, const std::vector<Record>& records) {
    const auto first = records.front().start_us;
    std::int64_t end = first;
    std::size_t events = 0;
    for (const auto& r : records) {
        end = std::max(end, r.start_us + r.duration_us);
        events += r.kind == "publish" ? 1 : 0;
    }
    std::cout << "correlation " << correlation_id << ": " << records.size() << " hops, " << events
              << " events published, " << Fixed(static_cast<double>(end - first) / 1000.0, 3)
              << " ms\n";
    Table table({"START_MS", "DURATION_MS", "SERVICE", "INSTANCE", "KIND", "TOPIC", "OUTCOME"},
                {true, true});
    for (const auto& r : records)
        table.Add({Fixed(static_cast<double>(r.start_us - first) / 1000.0, 3),
                   Fixed(static_cast<double>(r.duration_us) / 1000.0, 3), r.service, r.instance,
                   r.kind, r.topic, r.Outcome()});
    table.Print(std::cout);
}

void PrintJson(const std::string& correlation_id, const std::vector<Record>& records) {
    json::array hops;
    for (const auto& r : records) {
        hops.push_back(json::object{
            {"offset_us", r.start_us - records.front().start_us},
            {"duration_us", r.duration_us},
            {"service", r.service},
            {"instance", r.instance},
            {"kind", r.kind},
            {"topic", r.topic},
            {"outcome", r.Outcome()},
            {"event_id", r.event_id},
            {"causation_id", r.causation_id},
            {"start_us", r.start_us},
            {"tags", r.tags},
        });
    }
    json::object out{{"correlation_id", correlation_id}, {"hops", std::move(hops)}};
    std::cout << json::serialize(out) << '\n';
}

}  // namespace

int Trail(const std::string& server, const TrailOptions& options) {
    if (options.id.empty()) throw UsageError("trail: the id is empty");
    auto nats = Connect(server);
    std::string correlation_id = options.id;
    auto records = RecordsOf(*nats, correlation_id);
    if (records.empty()) {
        const auto found = CorrelationOfEvent(*nats, options.id);
        if (!found)
            throw ToolError("no trail records for " + options.id +
                            ": it is neither a correlation id nor an event id in the TRAIL stream "
                            "(records expire with the stream's max age)");
        correlation_id = *found;
        records = RecordsOf(*nats, correlation_id);
        if (records.empty())
            throw ToolError("no trail records for correlation id " + correlation_id);
    }
    // Start order; a consumption and the events its handler emitted share a start: the
    // consumption comes first.
    std::stable_sort(records.begin(), records.end(), [](const Record& a, const Record& b) {
        if (a.start_us != b.start_us) return a.start_us < b.start_us;
        return a.kind == "consume" && b.kind != "consume";
    });
    if (options.json)
        PrintJson(correlation_id, records);
    else
        PrintTable(correlation_id, records);
    return 0;
}

}  // namespace keel::bus_tool
