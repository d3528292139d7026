// keel-bus publish: one event, validated and encoded with the embedded schemas (or with
// another version given by --schema, registered first as a newer producer does), with the
// envelope headers and trail record the bus gives its own events.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <keel/bus/codec.hpp>
#include <keel/bus/envelope.hpp>
#include <keel/bus/nats.hpp>
#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

#include "commands.hpp"
#include "errors.hpp"
#include "jetstream.hpp"

namespace keel::bus_tool {
namespace json = boost::json;

namespace {

std::string Instance() {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    return std::string("keel-bus@") + host + ":" + std::to_string(getpid());
}

// The same record the outbox relay publishes for an event (see libs/bus/src/bus.cpp).
std::string TrailRecord(const bus::Envelope& e, const bus::Hop& hop) {
    std::string record = "{\"kind\":\"publish\",\"event_id\":";
    keel::json::AppendQuoted(record, e.event_id);
    record += ",\"topic\":";
    keel::json::AppendQuoted(record, e.topic);
    record += ",\"correlation_id\":";
    keel::json::AppendQuoted(record, e.correlation_id);
    record += ",\"causation_id\":";
    keel::json::AppendQuoted(record, e.causation_id);
    return record + ",\"hop\":" + bus::HopToJson(hop) + "}";
}

std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw UsageError("cannot read the schema file " + path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// A codec that writes `topic` with the schema in `path`, after checking that the
// consumers' current schema (the embedded one) can read what it writes.
std::unique_ptr<bus::Codec> CodecOf(const std::string& topic, const std::string& path,
                                    std::string* text) {
    *text = ReadFile(path);
    const bus::SchemaSource writer{topic, *text};
    std::unique_ptr<bus::Codec> codec;
    try {
        codec = std::make_unique<bus::Codec>(std::span<const bus::SchemaSource>(&writer, 1));
    } catch (const bus::SchemaError& e) {
        throw UsageError(path + " is not a schema of " + topic + ": " + e.what());
    }
    const bus::SchemaSource reader{topic, bus::Codec::Embedded().SchemaJson(topic)};
    try {
        bus::Codec resolves(std::span<const bus::SchemaSource>(&reader, 1),
                            std::span<const bus::SchemaSource>(&writer, 1));
    } catch (const bus::SchemaError& e) {
        throw UsageError(path + " is not compatible with the current " + topic +
                         " schema (consumers could not read it): " + e.what());
    }
    return codec;
}

// What a producer on a new version does when it connects (libs/bus schema_registry):
// the schema under keel.schemas.<fingerprint>, where consumers look unknown ones up.
void RegisterSchema(bus::Nats& nats, const std::string& topic, const std::string& fingerprint,
                    const std::string& text) {
    auto msg = bus::NewMsg("keel.schemas." + fingerprint, text);
    bus::SetHeader(msg.get(), "Keel-Schema-Topic", topic);
    nats.Publish(msg.get());
}

}  // namespace

int Publish(const std::string& server, const PublishOptions& options) {
    RequireTopic(options.topic);
    json::value payload;
    try {
        payload = json::parse(options.payload);
    } catch (const std::exception& e) {
        throw UsageError("the payload is not JSON: " + std::string(e.what()));
    }
    std::unique_ptr<bus::Codec> custom;
    std::string schema_text;
    if (!options.schema_file.empty())
        custom = CodecOf(options.topic, options.schema_file, &schema_text);
    const auto& codec = custom ? *custom : bus::Codec::Embedded();
    std::string bytes;
    try {
        bytes = codec.Encode(options.topic, payload);
    } catch (const bus::SchemaError& e) {
        throw UsageError(std::string("the payload does not match the schema: ") + e.what());
    }
    bus::Envelope e;
    e.event_id = Uuid::V7().ToString();
    e.topic = options.topic;
    e.correlation_id =
        options.correlation_id.empty() ? Uuid::V7().ToString() : options.correlation_id;
    e.fingerprint = codec.Fingerprint(options.topic);
    e.traceparent = bus::NextTraceparent("");
    e.produced_at_us = bus::NowMicros();
    bus::Hop hop;
    hop.service = "keel-bus";
    hop.instance = Instance();
    hop.start_us = e.produced_at_us;
    hop.tags = {{"request", "keel-bus publish"}, {"emitted", options.topic}};
    e.trail.push_back(hop);

    auto nats = Connect(server);
    if (custom) RegisterSchema(*nats, options.topic, e.fingerprint, schema_text);
    auto msg = bus::NewMsg(options.topic, bytes);
    bus::SetHeader(msg.get(), bus::header::kEventId, e.event_id);
    bus::SetHeader(msg.get(), bus::header::kCorrelationId, e.correlation_id);
    bus::SetHeader(msg.get(), bus::header::kFingerprint, e.fingerprint);
    bus::SetHeader(msg.get(), bus::header::kProducedAt, std::to_string(e.produced_at_us));
    bus::SetHeader(msg.get(), bus::header::kTrail, bus::TrailToJson(e.trail));
    bus::SetHeader(msg.get(), bus::header::kTraceparent, e.traceparent);
    std::uint64_t seq = 0;
    try {
        seq = nats->Publish(msg.get(), e.event_id);
    } catch (const bus::NatsError& error) {
        throw ToolError(std::string(error.what()) + " (does stream " +
                        bus::StreamOf(options.topic) +
                        " exist? services create it when they start)");
    }
    nats->PublishNoWait("trail." + bus::SubjectToken(e.correlation_id), TrailRecord(e, hop));
    nats->Flush();
    json::object out{{"topic", e.topic},
                     {"seq", seq},
                     {"event_id", e.event_id},
                     {"correlation_id", e.correlation_id},
                     {"fingerprint", e.fingerprint}};
    std::cout << json::serialize(out) << '\n';
    return 0;
}

}  // namespace keel::bus_tool
