#include "alert.hpp"

#include <charconv>

namespace keel::alert_relay {
namespace {

namespace json = boost::json;
using Problems = std::vector<std::pair<std::string, std::string>>;

// Bounds that keep Redis keys and messages small whatever a sender puts in.
constexpr std::size_t kMaxFingerprint = 64;
constexpr std::size_t kMaxTime = 40;
constexpr std::size_t kMaxAlerts = 1000;

std::string StringMember(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::map<std::string, std::string> StringMap(const json::object& o, std::string_view key,
                                             const std::string& field, Problems& problems) {
    std::map<std::string, std::string> out;
    const auto* v = o.if_contains(key);
    if (!v || v->is_null()) return out;
    if (!v->is_object()) {
        problems.emplace_back(field, "must be an object of strings");
        return out;
    }
    for (const auto& member : v->as_object()) {
        if (!member.value().is_string()) {
            problems.emplace_back(field + "." + std::string(member.key()), "must be a string");
            continue;
        }
        out.emplace(std::string(member.key()), std::string(member.value().as_string()));
    }
    return out;
}

bool IsHex(std::string_view s) {
    return !s.empty() && s.size() <= kMaxFingerprint &&
           s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

Alert ReadAlert(const json::value& value, const std::string& field, Problems& problems) {
    Alert a;
    if (!value.is_object()) {
        problems.emplace_back(field, "must be an object");
        return a;
    }
    const auto& o = value.as_object();
    a.status = StringMember(o, "status");
    if (a.status != "firing" && a.status != "resolved")
        problems.emplace_back(field + ".status", "must be firing or resolved");
    a.fingerprint = StringMember(o, "fingerprint");
    if (!IsHex(a.fingerprint))
        problems.emplace_back(field + ".fingerprint", "must be 1..64 lowercase hex digits");
    a.labels = StringMap(o, "labels", field + ".labels", problems);
    a.annotations = StringMap(o, "annotations", field + ".annotations", problems);
    a.starts_at = StringMember(o, "startsAt");
    if (a.starts_at.size() > kMaxTime || !ParseTime(a.starts_at))
        problems.emplace_back(field + ".startsAt", "must be an RFC 3339 time");
    a.ends_at = StringMember(o, "endsAt");
    a.generator_url = StringMember(o, "generatorURL");
    return a;
}

int Digits(std::string_view s, std::size_t at, std::size_t n, bool& ok) {
    int value = 0;
    if (at + n > s.size()) {
        ok = false;
        return 0;
    }
    const auto [end, ec] = std::from_chars(s.data() + at, s.data() + at + n, value);
    if (ec != std::errc{} || end != s.data() + at + n) ok = false;
    return value;
}

}  // namespace

std::string Alert::Label(const std::string& name) const {
    const auto it = labels.find(name);
    return it == labels.end() ? std::string() : it->second;
}

std::string Alert::DedupeId() const {
    std::string when = starts_at;  // ParseWebhook refused unreadable ones
    if (const auto t = ParseTime(starts_at))
        when = std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(t->time_since_epoch()).count());
    return fingerprint + ":" + status + ":" + when;
}

ParsedWebhook ParseWebhook(const json::object& body) {
    ParsedWebhook out;
    out.webhook.receiver = StringMember(body, "receiver");
    out.webhook.group_key = StringMember(body, "groupKey");
    const auto* alerts = body.if_contains("alerts");
    if (!alerts || !alerts->is_array()) {
        out.problems.emplace_back("alerts", "must be an array");
        return out;
    }
    if (alerts->as_array().size() > kMaxAlerts) {
        out.problems.emplace_back("alerts", "more than 1000 alerts");
        return out;
    }
    std::size_t i = 0;
    for (const auto& value : alerts->as_array()) {
        const auto field = "alerts[" + std::to_string(i++) + "]";
        out.webhook.alerts.push_back(ReadAlert(value, field, out.problems));
    }
    return out;
}

std::optional<std::chrono::system_clock::time_point> ParseTime(std::string_view s) {
    // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
    bool ok = s.size() >= 20 && s[4] == '-' && s[7] == '-' && (s[10] == 'T' || s[10] == 't') &&
              s[13] == ':' && s[16] == ':';
    if (!ok) return std::nullopt;
    const int year = Digits(s, 0, 4, ok), month = Digits(s, 5, 2, ok), day = Digits(s, 8, 2, ok);
    const int hour = Digits(s, 11, 2, ok), minute = Digits(s, 14, 2, ok),
              second = Digits(s, 17, 2, ok);
    std::size_t at = 19;
    std::chrono::nanoseconds fraction{0};
    if (at < s.size() && s[at] == '.') {
        std::int64_t scale = 100'000'000;
        for (++at; at < s.size() && s[at] >= '0' && s[at] <= '9'; ++at, scale /= 10)
            fraction += std::chrono::nanoseconds((s[at] - '0') * scale);
    }
    std::chrono::minutes offset{0};
    if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
        ok = ok && at + 1 == s.size();
    } else if (at + 6 == s.size() && (s[at] == '+' || s[at] == '-') && s[at + 3] == ':') {
        offset = std::chrono::hours(Digits(s, at + 1, 2, ok)) +
                 std::chrono::minutes(Digits(s, at + 4, 2, ok));
        if (s[at] == '-') offset = -offset;
    } else {
        ok = false;
    }
    const std::chrono::year_month_day date{std::chrono::year(year),
                                           std::chrono::month(static_cast<unsigned>(month)),
                                           std::chrono::day(static_cast<unsigned>(day))};
    if (!ok || year <= 1 || !date.ok() || hour > 23 || minute > 59 || second > 60)
        return std::nullopt;
    const auto t = std::chrono::sys_days(date) + std::chrono::hours(hour) +
                   std::chrono::minutes(minute) + std::chrono::seconds(second) - offset;
    return std::chrono::time_point_cast<std::chrono::system_clock::duration>(t) +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(fraction);
}

}  // namespace keel::alert_relay
