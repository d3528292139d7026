// Times and tables as keel-bus prints and reads them.
#pragma once
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace keel::bus_tool {

/// RFC 3339 in UTC with microseconds: 2024-05-01T12:00:00.123456Z.
std::string FormatTime(std::int64_t unix_ns);
/// Parses RFC 3339 (`T` or space, optional fraction, `Z` or +hh:mm/-hh:mm); nanoseconds since
/// the Unix epoch, nullopt when malformed.
std::optional<std::int64_t> ParseTime(std::string_view text);
/// 30s, 1m30s, 192h, 250ms: a duration in nanoseconds for people.
std::string FormatDuration(std::int64_t ns);
/// A decimal with `decimals` digits after the point.
std::string Fixed(double value, int decimals);

/// Columns padded to their widest cell; `right` marks right-aligned (numeric) columns.
class Table final {
public:
    Table(std::vector<std::string> headers, std::vector<bool> right);
    void Add(std::vector<std::string> row);
    bool Empty() const { return rows_.empty(); }
    void Print(std::ostream& out) const;

private:
    std::vector<std::string> headers_;
    std::vector<bool> right_;
    std::vector<std::vector<std::string>> rows_;
};

}  // namespace keel::bus_tool
