#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

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

/// schemas/<topic>.avsc, compiled into the binary at build time.
struct SchemaSource {
    std::string_view topic;
    std::string_view json;
};
std::span<const SchemaSource> EmbeddedSchemas();

/// Avro binary encoding of JSON payloads through libavro, one schema per topic.
/// Payloads are plain JSON: records are objects with exactly the schema's fields
/// (a missing nullable field is null), unions are the bare value. Thread-safe.
class Codec final {
public:
    explicit Codec(std::span<const SchemaSource> sources);
    ~Codec();
    Codec(const Codec&) = delete;
    Codec& operator=(const Codec&) = delete;

    /// The codec over EmbeddedSchemas(), built once.
    static const Codec& Embedded();

    bool Has(std::string_view topic) const;
    std::vector<std::string> Topics() const;
    /// CRC-64-AVRO (Rabin) of the schema's Parsing Canonical Form, 16 hex digits.
    const std::string& Fingerprint(std::string_view topic) const;
    const std::string& SchemaJson(std::string_view topic) const;

    /// Throws SchemaError naming the offending field path.
    std::string Encode(std::string_view topic, const boost::json::value& payload) const;
    /// Throws DecodeError.
    boost::json::value Decode(std::string_view topic, std::string_view bytes) const;

    struct Entry;

private:
    const Entry& Find(std::string_view topic) const;
    std::map<std::string, std::unique_ptr<Entry>, std::less<>> entries_;
};

/// The Parsing Canonical Form of an Avro schema (names made full, attributes that do
/// not affect reading dropped, fixed key order, no whitespace). Throws SchemaError.
std::string CanonicalForm(std::string_view schema_json);
/// The Avro CRC-64 fingerprint of `text`.
std::uint64_t Rabin64(std::string_view text);

/// Whether data written with `writer_json` can be read by a reader using
/// `reader_json` under Avro's resolution rules; `why` says what breaks it.
bool CanRead(std::string_view reader_json, std::string_view writer_json, std::string* why);

}  // namespace keel::bus
