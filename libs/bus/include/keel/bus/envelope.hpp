#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::bus {

/// NATS header names of the envelope. The payload is the Avro record alone; the
/// subject is the topic (= schema name).
namespace header {
inline constexpr const char* kMsgId = "Nats-Msg-Id";  // JetStream dedupe: the event id
inline constexpr const char* kEventId = "Keel-Event-Id";
inline constexpr const char* kCorrelationId = "Keel-Correlation-Id";
inline constexpr const char* kCausationId = "Keel-Causation-Id";
inline constexpr const char* kFingerprint = "Keel-Schema-Fingerprint";
inline constexpr const char* kProducedAt = "Keel-Produced-At";  // microseconds since epoch
inline constexpr const char* kTrail = "Keel-Trail";             // JSON array of hops
inline constexpr const char* kTraceparent = "traceparent";      // W3C trace context
// Added when a message is dead-lettered.
inline constexpr const char* kDlqConsumer = "Keel-Dlq-Consumer";
inline constexpr const char* kDlqError = "Keel-Dlq-Error";
inline constexpr const char* kDlqDeliveries = "Keel-Dlq-Deliveries";
inline constexpr const char* kDlqStreamSeq = "Keel-Dlq-Stream-Seq";
}  // namespace header

/// One service's handling of an event (or of the request that produced it).
struct Hop {
    std::string service;
    std::string instance;
    std::int64_t start_us = 0;  // since the Unix epoch
    std::int64_t duration_us = 0;
    std::vector<std::pair<std::string, std::string>> tags;
};

/// What travels with every event besides its payload.
struct Envelope {
    std::string event_id;        // UUIDv7, also Nats-Msg-Id
    std::string topic;           // subject = schema name
    std::string correlation_id;  // where the request entered the system
    std::string causation_id;    // the event this one was produced in reaction to ("" at the edge)
    std::string fingerprint;     // of the writer's schema
    std::string traceparent;
    std::int64_t produced_at_us = 0;
    std::vector<Hop> trail;
};

std::string TrailToJson(const std::vector<Hop>& trail);
/// Throws std::invalid_argument on malformed input.
std::vector<Hop> TrailFromJson(std::string_view text);
std::string HopToJson(const Hop& hop);

/// A W3C traceparent continuing `parent`'s trace with a new span ("" starts a trace).
std::string NextTraceparent(std::string_view parent);
/// Microseconds since the Unix epoch, from the system clock.
std::int64_t NowMicros();
/// `text` made safe as one NATS subject token (letters, digits, '-', '_').
std::string SubjectToken(std::string_view text);

}  // namespace keel::bus
