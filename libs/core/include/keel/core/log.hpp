#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace keel::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

/// A value in a log line; strings are escaped, numbers written as JSON numbers.
using Value = std::variant<std::string_view, std::int64_t, double, bool>;
using Field = std::pair<std::string_view, Value>;

/// Sets the fields stamped on every line. Call once at start-up, before threads run.
void Configure(const std::string& service, const std::string& instance, Level min_level);
/// Parses "debug|info|warn|error"; nullopt-like false on unknown text.
bool ParseLevel(std::string_view text, Level& out);
bool Enabled(Level level);

/// Writes one JSON line to stderr: ts, level, service, instance, msg, then fields.
/// Thread-safe: each line is a single write(2).
void Write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) {
    Write(Level::kDebug, m, f);
}
inline void Info(std::string_view m, std::initializer_list<Field> f = {}) {
    Write(Level::kInfo, m, f);
}
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) {
    Write(Level::kWarn, m, f);
}
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) {
    Write(Level::kError, m, f);
}

}  // namespace keel::log

namespace keel::json {
/// Appends `text` as a quoted JSON string (RFC 8259 escaping) to `out`; bytes that are
/// not well-formed UTF-8 become U+FFFD, so the result is always valid JSON.
void AppendQuoted(std::string& out, std::string_view text);
}  // namespace keel::json
