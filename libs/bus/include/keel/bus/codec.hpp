#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include <keel/core/unavailable.hpp>

namespace keel::bus {

/// A payload does not match its topic's schema, or the topic has no schema. Such a
/// message is never published: the business transaction that wrote it rolls back.
class SchemaError final : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Bytes that do not decode with the topic's schema (they go to the dead letters).
class DecodeError final : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The event was written with a schema this codec does not know (yet), by its
/// fingerprint: a producer on a newer version whose schema has not been learned, or one
/// that does not resolve into this reader's. Transient: the consumer retries the event
/// with backoff and never dead-letters it for this (docs/events.md, schema evolution).
class UnknownSchemaError final : public UnavailableError {
public:
    UnknownSchemaError(std::string topic, std::string fingerprint, const std::string& why)
        : UnavailableError(topic + ": written with unknown schema " + fingerprint + " (" + why +
                           ")"),
          topic_(std::move(topic)),
          fingerprint_(std::move(fingerprint)) {}
    const std::string& Topic() const { return topic_; }
    const std::string& Fingerprint() const { return fingerprint_; }

private:
    std::string topic_;
    std::string fingerprint_;
};

/// schemas/<topic>.avsc, compiled into the binary at build time.
struct SchemaSource {
    std::string_view topic;
    std::string_view json;
};
std::span<const SchemaSource> EmbeddedSchemas();
/// schemas/released/<topic>.avsc: earlier versions this binary can still read.
std::span<const SchemaSource> EmbeddedReleasedSchemas();

/// Avro binary encoding of JSON payloads through libavro, one schema per topic.
/// Payloads are plain JSON: records are objects with exactly the schema's fields
/// (a missing nullable field is null), unions are the bare value. Thread-safe.
///
/// Besides its own (reader) schema per topic, it knows writer schemas by fingerprint:
/// other compatible versions of its topics that producers may write with during a
/// rolling deploy. An event written with one is decoded with it and resolved into the
/// reader's form (Avro schema resolution: fields the reader lacks are dropped, fields
/// the writer lacks take the reader's default, numbers widen, unknown enum symbols take
/// the reader's enum default). The codec never does I/O: the bus finds writer schemas
/// (schema registry) and hands them to Learn().
class Codec final {
public:
    /// `sources`: the schemas this codec reads and writes. `writers`: other versions it
    /// reads (released ones); each must resolve into its topic's source. Throws SchemaError.
    explicit Codec(std::span<const SchemaSource> sources,
                   std::span<const SchemaSource> writers = {});
    ~Codec();
    Codec(const Codec&) = delete;
    Codec& operator=(const Codec&) = delete;

    /// The codec over EmbeddedSchemas() and EmbeddedReleasedSchemas(), built once.
    static const Codec& Embedded();

    bool Has(std::string_view topic) const;
    std::vector<std::string> Topics() const;
    /// CRC-64-AVRO (Rabin) of the schema's Parsing Canonical Form, 16 hex digits.
    const std::string& Fingerprint(std::string_view topic) const;
    const std::string& SchemaJson(std::string_view topic) const;

    /// Throws SchemaError naming the offending field path.
    std::string Encode(std::string_view topic, const boost::json::value& payload) const;
    /// Decodes with the topic's own schema. Throws DecodeError.
    boost::json::value Decode(std::string_view topic, std::string_view bytes) const;
    /// Decodes bytes written with the schema of fingerprint `writer` (empty: the topic's
    /// own) into the topic's reader form. Throws UnknownSchemaError when the writer is
    /// unknown or known not to resolve, DecodeError when the bytes do not decode or the
    /// writer schema is another topic's.
    boost::json::value Decode(std::string_view topic, std::string_view bytes,
                              std::string_view writer) const;

    /// Whether Decode knows the writer schema of this fingerprint (own or learned).
    bool KnowsWriter(std::string_view fingerprint) const;
    /// Adds a writer schema (e.g. from the bus's schema registry) after checking that it
    /// parses, names one of this codec's topics and resolves into its reader schema;
    /// returns its fingerprint. Throws SchemaError saying why not. Thread-safe; what is
    /// learned is a fact about a fingerprint, hence const (the codec is shared).
    std::string Learn(std::string_view schema_json) const;

    struct Entry;

private:
    const Entry& Find(std::string_view topic) const;
    const Entry* FindWriter(std::string_view fingerprint) const;
    std::unique_ptr<Entry> Compile(std::string_view topic, std::string_view json) const;
    std::map<std::string, std::unique_ptr<Entry>, std::less<>> entries_;
    mutable std::mutex writers_mutex_;
    mutable std::map<std::string, std::unique_ptr<Entry>, std::less<>> writers_;  // by fingerprint
};

/// The Parsing Canonical Form of an Avro schema (names made full, attributes that do
/// not affect reading dropped, fixed key order, no whitespace). Throws SchemaError.
std::string CanonicalForm(std::string_view schema_json);
/// The Avro CRC-64 fingerprint of `text`.
std::uint64_t Rabin64(std::string_view text);
/// Rabin64 of the schema's canonical form as 16 hex digits (Keel-Schema-Fingerprint).
/// Throws SchemaError.
std::string FingerprintOf(std::string_view schema_json);

/// Whether data written with `writer_json` can be read by a reader using
/// `reader_json` under Avro's resolution rules; `why` says what breaks it.
bool CanRead(std::string_view reader_json, std::string_view writer_json, std::string* why);

}  // namespace keel::bus
