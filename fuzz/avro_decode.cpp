// The Avro decoder of libs/bus (Codec::Decode) over every topic of schemas/: the first
// input byte picks the topic, the rest is the payload as it would come off the bus.
// A payload that decodes must encode again to as many bytes that decode to the same
// record (the codec refuses trailing bytes: a decoded record is exactly one record).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <avro.h>

#include <boost/json/serialize.hpp>

#include <keel/bus/codec.hpp>

#include "fuzz_check.hpp"

namespace bus = keel::bus;

namespace {

// Decode lets a NUL through in a string and Encode refuses it: a known bug, see
// crashes/avro_decode/README.md. Such payloads skip the round trip until it is fixed.
bool HasNul(const boost::json::value& v) {
    if (v.is_string()) return v.get_string().find('\0') != boost::json::string::npos;
    if (v.is_array()) {
        for (const auto& item : v.get_array())
            if (HasNul(item)) return true;
    }
    if (v.is_object()) {
        for (const auto& member : v.get_object())
            if (HasNul(member.value())) return true;
    }
    return false;
}

// libavro 1.11.1 mallocs a string's declared length before it reads the bytes and leaks
// it when they are not there (crashes/avro_decode/README.md): gigabytes per input, so
// the fuzzer would stop at its malloc limit at once. Until Codec::Decode checks lengths,
// refuse big allocations here as a failed malloc (libavro reports ENOMEM: DecodeError).
void* CappedAllocator(void*, void* ptr, std::size_t, std::size_t size) {
    constexpr std::size_t kCap = std::size_t{1} << 20;
    if (size == 0) {
        std::free(ptr);
        return nullptr;
    }
    return size > kCap ? nullptr : std::realloc(ptr, size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bool capped = (avro_set_allocator(CappedAllocator, nullptr), true);
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
    KEEL_FUZZ_CHECK(capped && payload.is_object());
    if (HasNul(payload)) return 0;
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
