// The event envelope as a consumer reads it from NATS headers (libs/bus envelope.cpp,
// the checks of consumer.cpp's DecodeEvent) and the subject helpers of nats.hpp.
// Input lines: 1 Keel-Event-Id, 2 traceparent, 3 a topic / subject text, the rest is
// the Keel-Trail header (a JSON array of hops).
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <keel/bus/envelope.hpp>
#include <keel/bus/nats.hpp>
#include <keel/core/uuid.hpp>

#include "fuzz_check.hpp"

namespace bus = keel::bus;

namespace {

std::string_view NextLine(std::string_view& rest) {
    const auto nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    return line;
}

bool IsLowerHex(std::string_view text) {
    for (const char c : text)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

void CheckEventId(std::string_view text) {
    const auto id = keel::Uuid::Parse(text);
    if (!id) return;
    std::string lower(text);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    KEEL_FUZZ_CHECK(id->ToString() == lower);
}

// W3C trace context: 00-<32 lowercase hex, not all zero>-<16 lowercase hex>-<2 hex>.
void CheckTraceparent(std::string_view parent) {
    const std::string next = bus::NextTraceparent(parent);
    KEEL_FUZZ_CHECK(next.size() == 55);
    KEEL_FUZZ_CHECK(next.substr(0, 3) == "00-" && next[35] == '-' && next.substr(52) == "-01");
    const std::string_view trace = std::string_view(next).substr(3, 32);
    // The trace id is carried on into the next event's headers: it must be a valid
    // one even when the incoming header is not (W3C: then start a new trace).
    KEEL_FUZZ_CHECK(IsLowerHex(trace));
    KEEL_FUZZ_CHECK(trace != std::string(32, '0'));
    KEEL_FUZZ_CHECK(IsLowerHex(std::string_view(next).substr(36, 16)));
}

void CheckSubjects(std::string_view text) {
    const std::string token = bus::SubjectToken(text);
    KEEL_FUZZ_CHECK(!token.empty() && token.size() <= 128);
    for (const char c : token)
        KEEL_FUZZ_CHECK(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
    for (const auto& url : bus::SplitUrlList(text)) {
        KEEL_FUZZ_CHECK(!url.empty() && url.find(',') == std::string::npos);
        KEEL_FUZZ_CHECK(url.front() != ' ' && url.back() != ' ');
    }
    const std::string stream = bus::StreamOf(text);
    KEEL_FUZZ_CHECK(stream.find('.') == std::string::npos);
    const std::string durable = bus::DurableOf("svc", text);
    KEEL_FUZZ_CHECK(durable.find('.') == std::string::npos);
}

bool SameTrail(const std::vector<bus::Hop>& a, const std::vector<bus::Hop>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].service != b[i].service || a[i].instance != b[i].instance ||
            a[i].start_us != b[i].start_us || a[i].duration_us != b[i].duration_us ||
            a[i].tags != b[i].tags)
            return false;
    }
    return true;
}

void CheckTrail(std::string_view text) {
    std::vector<bus::Hop> trail;
    try {
        trail = bus::TrailFromJson(text);
    } catch (const std::invalid_argument&) {
        return;  // DecodeEvent turns this into a DecodeError: a dead letter
    }
    // What the consumer passes on to the events it emits reads back the same.
    const std::string json = bus::TrailToJson(trail);
    std::vector<bus::Hop> again;
    try {
        again = bus::TrailFromJson(json);
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "TrailToJson wrote what TrailFromJson refuses (%s): %s\n", e.what(),
                     json.c_str());
        KEEL_FUZZ_CHECK(false);
    }
    KEEL_FUZZ_CHECK(SameTrail(trail, again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    CheckEventId(NextLine(rest));
    CheckTraceparent(NextLine(rest));
    CheckSubjects(NextLine(rest));
    CheckTrail(rest);
    return 0;
}
