// The Avro decoder of libs/bus (Codec::Decode) over every topic of schemas/: the first
// input byte picks the topic, the rest is the payload as it would come off the bus.
// A payload that decodes must encode again to as many bytes that decode to the same
// record (the codec refuses trailing bytes: a decoded record is exactly one record).
// No allocation cap: Codec::Decode walks the schema over the bytes before libavro reads
// them, so libavro never mallocs a declared length beyond the input (it used to, and
// leaked it: corpus/avro_decode/libavro_leak_truncated_string).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/serialize.hpp>

#include <keel/bus/codec.hpp>

#include "fuzz_check.hpp"

namespace bus = keel::bus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bus::Codec& codec = bus::Codec::Embedded();
    static const std::vector<std::string> topics = codec.Topics();
    if (size == 0) return 0;
    const std::string& topic = topics[data[0] % topics.size()];
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    boost::json::value payload;
    try {
        payload = codec.Decode(topic, bytes);
    } catch (const bus::DecodeError&) {
        return 0;
    }
    KEEL_FUZZ_CHECK(payload.is_object());
    std::string again;
    try {
        again = codec.Encode(topic, payload);
    } catch (const bus::SchemaError& e) {
        std::fprintf(stderr, "%s decoded but does not encode: %s\n", topic.c_str(), e.what());
        KEEL_FUZZ_CHECK(false);
    }
    // The same length (the codec refuses trailing bytes) and the same record. Not the
    // same bytes: libavro ignores the bits above 64 of a 10-byte varint, harmlessly.
    const auto reread = codec.Decode(topic, again);
    if (again.size() != bytes.size() || reread != payload) {
        std::fprintf(stderr, "%s: re-encoded %zu bytes, read %zu; payload %s\n", topic.c_str(),
                     again.size(), bytes.size(), boost::json::serialize(payload).c_str());
    }
    KEEL_FUZZ_CHECK(again.size() == bytes.size() && reread == payload);
    return 0;
}
