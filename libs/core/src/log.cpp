#include <keel/core/log.hpp>

#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <keel/core/ambient.hpp>

namespace keel::json {
namespace {

// The length of the well-formed UTF-8 sequence that starts at text[i], 0 when there is
// none (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
std::size_t Utf8Length(std::string_view text, std::size_t i) {
    const auto byte = [text](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    std::size_t n = 0;
    unsigned char lo = 0x80;  // the range of the second byte
    unsigned char hi = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
        n = 2;
    } else if (lead >= 0xe0 && lead <= 0xef) {
        n = 3;
        if (lead == 0xe0) lo = 0xa0;
        if (lead == 0xed) hi = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
        n = 4;
        if (lead == 0xf0) lo = 0x90;
        if (lead == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (text.size() - i < n || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < n; ++k)
        if ((byte(i + k) & 0xc0) != 0x80) return 0;
    return n;
}

}  // namespace

// Text from outside (paths, headers, query parameters) can be any bytes; JSON must be
// UTF-8, or strict parsers (clients reading a problem, log collectors) refuse the whole
// document. Each byte that is not part of a well-formed sequence becomes U+FFFD.
void AppendQuoted(std::string& out, std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    out.push_back('"');
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20) {
                    out += "\\u00";
                    out.push_back(kHex[c >> 4]);
                    out.push_back(kHex[c & 0xf]);
                } else if (c < 0x80) {
                    out.push_back(static_cast<char>(c));
                } else if (const std::size_t n = Utf8Length(text, i); n > 0) {
                    out.append(text.substr(i, n));
                    i += n - 1;
                } else {
                    out += "\\ufffd";
                }
        }
    }
    out.push_back('"');
}

}  // namespace keel::json

namespace keel::log {
namespace {

std::string g_prefix = R"("service":"keel","instance":"")";
std::atomic<int> g_min_level{static_cast<int>(Level::kInfo)};

constexpr std::array<std::string_view, 4> kLevelNames = {"debug", "info", "warn", "error"};

void AppendTimestamp(std::string& out) {
    using namespace std::chrono;
    const auto now = system_clock::now();
    const auto secs = time_point_cast<seconds>(now);
    const auto micros = duration_cast<microseconds>(now - secs).count();
    std::time_t t = system_clock::to_time_t(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<long>(micros));
    out += buf;
}

void AppendValue(std::string& out, const Value& value) {
    if (auto s = std::get_if<std::string_view>(&value)) {
        json::AppendQuoted(out, *s);
    } else if (auto i = std::get_if<std::int64_t>(&value)) {
        out += std::to_string(*i);
    } else if (auto d = std::get_if<double>(&value)) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.6g", *d);
        out += buf;
    } else {
        out += std::get<bool>(value) ? "true" : "false";
    }
}

bool Has(std::initializer_list<Field> fields, std::string_view key) {
    for (const auto& field : fields)
        if (field.first == key) return true;
    return false;
}

void AppendField(std::string& out, std::string_view key, std::string_view value) {
    out.push_back(',');
    json::AppendQuoted(out, key);
    out.push_back(':');
    json::AppendQuoted(out, value);
}

// The trace and correlation of the work this line is written for (keel/core/ambient.hpp),
// unless the line names its own (a span record of a client call has its own span_id).
void AppendAmbient(std::string& out, std::initializer_list<Field> fields) {
    const ambient::Context* context = ambient::Current();
    if (context == nullptr) return;
    if (!context->trace_id.empty() && !Has(fields, "trace_id"))
        AppendField(out, "trace_id", context->trace_id);
    if (!context->span_id.empty() && !Has(fields, "span_id"))
        AppendField(out, "span_id", context->span_id);
    if (!context->correlation_id.empty() && !Has(fields, "correlation_id"))
        AppendField(out, "correlation_id", context->correlation_id);
}

}  // namespace

void Configure(const std::string& service, const std::string& instance, Level min_level) {
    std::string prefix = "\"service\":";
    json::AppendQuoted(prefix, service);
    prefix += ",\"instance\":";
    json::AppendQuoted(prefix, instance);
    g_prefix = std::move(prefix);
    g_min_level = static_cast<int>(min_level);
}

bool ParseLevel(std::string_view text, Level& out) {
    for (std::size_t i = 0; i < kLevelNames.size(); ++i) {
        if (kLevelNames[i] == text) {
            out = static_cast<Level>(i);
            return true;
        }
    }
    return false;
}

bool Enabled(Level level) {
    return static_cast<int>(level) >= g_min_level.load(std::memory_order_relaxed);
}

void Write(Level level, std::string_view message, std::initializer_list<Field> fields) {
    if (!Enabled(level)) return;
    std::string line;
    line.reserve(256);
    line += "{\"ts\":\"";
    AppendTimestamp(line);
    line += "\",\"level\":\"";
    line += kLevelNames[static_cast<int>(level)];
    line += "\",";
    line += g_prefix;
    line += ",\"msg\":";
    json::AppendQuoted(line, message);
    AppendAmbient(line, fields);
    for (const auto& [key, value] : fields) {
        line.push_back(',');
        json::AppendQuoted(line, key);
        line.push_back(':');
        AppendValue(line, value);
    }
    line += "}\n";
    // One write per line keeps lines whole when several threads log at once.
    [[maybe_unused]] auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace keel::log
