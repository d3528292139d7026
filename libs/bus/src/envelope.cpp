#include <keel/bus/envelope.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <stdexcept>

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>
#include <keel/telemetry/trace.hpp>

namespace keel::bus {
namespace json = boost::json;

std::string HopToJson(const Hop& hop) {
    std::string out = "{\"service\":";
    keel::json::AppendQuoted(out, hop.service);
    out += ",\"instance\":";
    keel::json::AppendQuoted(out, hop.instance);
    out += ",\"start_us\":" + std::to_string(hop.start_us);
    out += ",\"duration_us\":" + std::to_string(hop.duration_us);
    out += ",\"tags\":{";
    bool first = true;
    for (const auto& tag : hop.tags) {
        if (!first) out += ",";
        first = false;
        keel::json::AppendQuoted(out, tag.first);
        out += ":";
        keel::json::AppendQuoted(out, tag.second);
    }
    return out + "}}";
}

std::string TrailToJson(const std::vector<Hop>& trail) {
    std::string out = "[";
    for (const auto& hop : trail) {
        if (out.size() > 1) out += ",";
        out += HopToJson(hop);
    }
    return out + "]";
}

std::vector<Hop> TrailFromJson(std::string_view text) {
    std::vector<Hop> trail;
    if (text.empty()) return trail;
    try {
        const auto value = json::parse(text);
        for (const auto& item : value.as_array()) {
            const auto& o = item.as_object();
            Hop hop;
            hop.service = std::string(o.at("service").as_string());
            hop.instance = std::string(o.at("instance").as_string());
            hop.start_us = o.at("start_us").to_number<std::int64_t>();
            hop.duration_us = o.at("duration_us").to_number<std::int64_t>();
            if (const auto* tags = o.if_contains("tags"))
                for (const auto& kv : tags->as_object())
                    hop.tags.emplace_back(std::string(kv.key()),
                                          std::string(kv.value().as_string()));
            trail.push_back(std::move(hop));
        }
    } catch (const std::exception& e) {
        throw std::invalid_argument(std::string("malformed trail: ") + e.what());
    }
    return trail;
}

std::string NextTraceparent(std::string_view parent) {
    // An invalid parent starts a new trace (W3C): carrying its trace id on would spread it
    // into every event emitted. One parser for HTTP and events: telemetry's.
    return telemetry::FormatTraceparent(telemetry::ChildOf(telemetry::ParseTraceparent(parent)));
}

std::int64_t NowMicros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string SubjectToken(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text.substr(0, 128)) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || c == '_';
        out += ok ? c : '_';
    }
    return out.empty() ? "_" : out;
}

}  // namespace keel::bus
