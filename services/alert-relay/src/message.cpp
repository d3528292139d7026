#include "message.hpp"

#include <chrono>
#include <cstdio>
#include <set>

namespace keel::alert_relay {
namespace {

constexpr std::size_t kMaxName = 200;
constexpr std::size_t kMaxSummary = 500;
constexpr std::size_t kMaxDescription = 1000;
constexpr std::size_t kMaxLabel = 60;
constexpr std::size_t kMaxLabels = 12;
constexpr std::size_t kMaxUrl = 1000;

// Shown in the heading already. The bounds keep the visible text (what Telegram counts
// against its 4096 characters) under about 3300 bytes whatever the alert holds.
const std::set<std::string> kShownElsewhere = {"alertname", "severity", "service"};

constexpr const char* kFiring = "\xF0\x9F\x94\xA5";  // fire
constexpr const char* kResolved = "\xE2\x9C\x85";    // check mark
constexpr const char* kWarning = "\xE2\x9A\xA0\xEF\xB8\x8F";
constexpr const char* kDot = " \xC2\xB7 ";

std::string Escaped(std::string_view text, std::size_t max_bytes) {
    return EscapeHtml(TruncateUtf8(text, max_bytes));
}

std::string Annotation(const Alert& a, const char* key) {
    const auto it = a.annotations.find(key);
    return it == a.annotations.end() ? std::string() : it->second;
}

std::string Utc(std::chrono::system_clock::time_point t) {
    const auto secs = std::chrono::floor<std::chrono::seconds>(t);
    const auto day = std::chrono::floor<std::chrono::days>(secs);
    const std::chrono::year_month_day ymd(day);
    const std::chrono::hh_mm_ss hms(secs - day);
    char out[40];
    std::snprintf(out, sizeof out, "%04d-%02u-%02u %02ld:%02ld:%02ld UTC",
                  static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), static_cast<long>(hms.hours().count()),
                  static_cast<long>(hms.minutes().count()),
                  static_cast<long>(hms.seconds().count()));
    return out;
}

std::string Duration(std::chrono::system_clock::duration d) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    if (s < 0) s = 0;
    const auto days = s / 86400, hours = s % 86400 / 3600, minutes = s % 3600 / 60, secs = s % 60;
    std::string out;
    if (days) out += std::to_string(days) + "d ";
    if (days || hours) out += std::to_string(hours) + "h ";
    if (days || hours || minutes) out += std::to_string(minutes) + "m ";
    return out + std::to_string(secs) + "s";
}

std::string Heading(const Alert& a) {
    std::string out = a.Firing() ? std::string(kFiring) + " <b>FIRING</b>"
                                 : std::string(kResolved) + " <b>RESOLVED</b>";
    if (const auto severity = a.Label("severity"); !severity.empty())
        out += kDot + Escaped(severity, kMaxLabel);
    auto service = a.Label("service");
    if (service.empty()) service = a.Label("job");
    if (!service.empty()) out += kDot + Escaped(service, kMaxLabel);
    auto name = a.Label("alertname");
    if (name.empty()) name = "(no alertname)";
    return out + "\n<b>" + Escaped(name, kMaxName) + "</b>";
}

std::string When(const Alert& a) {
    const auto started = ParseTime(a.starts_at);
    if (!started) return {};
    if (a.Firing()) return "since " + Utc(*started);
    std::string out = "started " + Utc(*started);
    if (const auto ended = ParseTime(a.ends_at)) out += ", lasted " + Duration(*ended - *started);
    return out;
}

std::string OtherLabels(const Alert& a) {
    std::string out;
    std::size_t shown = 0;
    for (const auto& label : a.labels) {
        if (kShownElsewhere.contains(label.first)) continue;
        if (shown++ == kMaxLabels) {
            out += ", \xE2\x80\xA6";
            break;
        }
        if (!out.empty()) out += ", ";
        out += Escaped(label.first, kMaxLabel) + "=" + Escaped(label.second, kMaxLabel);
    }
    return out.empty() ? out : "<code>" + out + "</code>";
}

std::string Link(const Alert& a) {
    const auto& url = a.generator_url;
    if (url.size() > kMaxUrl || !(url.starts_with("http://") || url.starts_with("https://")))
        return {};
    return "<a href=\"" + EscapeHtml(url) + "\">source</a>";
}

}  // namespace

std::string EscapeHtml(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string TruncateUtf8(std::string_view text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) return std::string(text);
    static constexpr std::string_view kEllipsis = "\xE2\x80\xA6";
    if (max_bytes < kEllipsis.size()) return {};
    auto cut = max_bytes - kEllipsis.size();
    // Back off continuation bytes (10xxxxxx) so that no character is split.
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return std::string(text.substr(0, cut)) + std::string(kEllipsis);
}

std::string FormatAlert(const Alert& alert, std::int64_t suppressed) {
    std::string out = Heading(alert);
    const auto append = [&out](const std::string& part) {
        if (!part.empty()) out += "\n" + part;
    };
    if (const auto summary = Annotation(alert, "summary"); !summary.empty())
        append("<i>" + Escaped(summary, kMaxSummary) + "</i>");
    append(Escaped(Annotation(alert, "description"), kMaxDescription));
    append(When(alert));
    append(OtherLabels(alert));
    append(Link(alert));
    if (suppressed > 0)
        append(std::string(kWarning) + " " + std::to_string(suppressed) +
               (suppressed == 1 ? " earlier state change" : " earlier state changes") +
               " of this alert not sent (flapping)");
    return out;
}

}  // namespace keel::alert_relay
