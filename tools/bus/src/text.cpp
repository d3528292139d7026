#include "text.hpp"

#include <chrono>
#include <cstdio>

namespace keel::bus_tool {

namespace {

// Reads exactly `digits` decimal digits at `pos`.
std::optional<int> Digits(std::string_view text, std::size_t& pos, int digits) {
    if (pos + static_cast<std::size_t>(digits) > text.size()) return std::nullopt;
    int value = 0;
    for (int i = 0; i < digits; ++i) {
        const char c = text[pos++];
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    return value;
}

bool Expect(std::string_view text, std::size_t& pos, char c) {
    if (pos >= text.size() || text[pos] != c) return false;
    ++pos;
    return true;
}

}  // namespace

std::string FormatTime(std::int64_t unix_ns) {
    using namespace std::chrono;
    const sys_time<nanoseconds> t{nanoseconds(unix_ns)};
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{floor<microseconds>(t - day)};
    char out[40];
    std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02lld:%02lld:%02lld.%06lldZ",
                  static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), static_cast<long long>(hms.hours().count()),
                  static_cast<long long>(hms.minutes().count()),
                  static_cast<long long>(hms.seconds().count()),
                  static_cast<long long>(hms.subseconds().count()));
    return out;
}

std::optional<std::int64_t> ParseTime(std::string_view text) {
    using namespace std::chrono;
    std::size_t pos = 0;
    const auto y = Digits(text, pos, 4);
    if (!y || !Expect(text, pos, '-')) return std::nullopt;
    const auto mo = Digits(text, pos, 2);
    if (!mo || !Expect(text, pos, '-')) return std::nullopt;
    const auto d = Digits(text, pos, 2);
    if (!d || pos >= text.size() || (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' '))
        return std::nullopt;
    ++pos;
    const auto h = Digits(text, pos, 2);
    if (!h || !Expect(text, pos, ':')) return std::nullopt;
    const auto mi = Digits(text, pos, 2);
    if (!mi || !Expect(text, pos, ':')) return std::nullopt;
    const auto s = Digits(text, pos, 2);
    if (!s) return std::nullopt;
    std::int64_t fraction_ns = 0;
    if (pos < text.size() && text[pos] == '.') {
        ++pos;
        int n = 0;
        std::int64_t scale = 100'000'000;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            fraction_ns += (text[pos++] - '0') * scale;
            scale /= 10;
            ++n;
        }
        if (n == 0) return std::nullopt;
    }
    std::int64_t offset_s = 0;
    if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
        ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
        const int sign = text[pos++] == '-' ? -1 : 1;
        const auto oh = Digits(text, pos, 2);
        if (!oh || !Expect(text, pos, ':')) return std::nullopt;
        const auto om = Digits(text, pos, 2);
        if (!om || *oh > 23 || *om > 59) return std::nullopt;
        offset_s = sign * (std::int64_t{*oh} * 3600 + std::int64_t{*om} * 60);
    } else {
        return std::nullopt;
    }
    if (pos != text.size()) return std::nullopt;
    const year_month_day ymd{year(*y), month(static_cast<unsigned>(*mo)),
                             day(static_cast<unsigned>(*d))};
    if (!ymd.ok() || *h > 23 || *mi > 59 || *s > 60) return std::nullopt;
    const auto secs = sys_days(ymd).time_since_epoch() + hours(*h) + minutes(*mi) + seconds(*s) -
                      seconds(offset_s);
    return duration_cast<nanoseconds>(secs).count() + fraction_ns;
}

std::string FormatDuration(std::int64_t ns) {
    if (ns <= 0) return "0s";
    if (ns % 1'000'000'000 != 0) {
        if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
        return Fixed(static_cast<double>(ns) / 1e9, 3) + "s";
    }
    std::int64_t s = ns / 1'000'000'000;
    std::string out;
    if (s >= 3600) {
        out += std::to_string(s / 3600) + "h";
        s %= 3600;
    }
    if (s >= 60) {
        out += std::to_string(s / 60) + "m";
        s %= 60;
    }
    if (s > 0 || out.empty()) out += std::to_string(s) + "s";
    return out;
}

std::string Fixed(double value, int decimals) {
    char out[64];
    std::snprintf(out, sizeof out, "%.*f", decimals, value);
    return out;
}

Table::Table(std::vector<std::string> headers, std::vector<bool> right)
    : headers_(std::move(headers)), right_(std::move(right)) {
    right_.resize(headers_.size(), false);
}

void Table::Add(std::vector<std::string> row) {
    row.resize(headers_.size());
    rows_.push_back(std::move(row));
}

void Table::Print(std::ostream& out) const {
    std::vector<std::size_t> width(headers_.size());
    for (std::size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
    for (const auto& row : rows_)
        for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    auto line = [&](const std::vector<std::string>& cells) {
        std::string text;
        for (std::size_t i = 0; i < cells.size(); ++i) {
            const std::string pad(width[i] - cells[i].size(), ' ');
            const bool last = i + 1 == cells.size();
            text += right_[i] ? pad + cells[i] : cells[i] + (last ? "" : pad);
            if (!last) text += "  ";
        }
        out << text << '\n';
    };
    line(headers_);
    for (const auto& row : rows_) line(row);
}

}  // namespace keel::bus_tool
