// The reader's half of Avro schema resolution, applied to decoded values. libavro has
// resolved readers and writers, but they refuse a reader field that the writer lacks
// ("TODO: Handle default values" in avro-c 1.11), which is the very case of a consumer
// that is newer than its producer; so an event is decoded with its writer's schema and
// then read into the reader's shape here.
#pragma once
#include <memory>
#include <string_view>

#include <boost/json/value.hpp>

namespace keel::bus {

class ReaderShape final {
public:
    /// Throws SchemaError when `reader_json` is not an Avro schema.
    explicit ReaderShape(std::string_view reader_json);
    ~ReaderShape();
    ReaderShape(const ReaderShape&) = delete;
    ReaderShape& operator=(const ReaderShape&) = delete;

    /// `written`: a value as the codec decodes it with a writer schema that CanRead()
    /// accepts. Fields the reader lacks are dropped, fields the writer lacks take the
    /// reader's default, numbers become the reader's type, an enum symbol the reader
    /// lacks becomes the reader's enum default. Throws DecodeError naming the field when
    /// the value cannot be read (e.g. such a symbol and no default).
    boost::json::value Read(const boost::json::value& written) const;

    struct Impl;

private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace keel::bus
