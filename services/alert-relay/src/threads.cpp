#include "threads.hpp"

#include <charconv>

namespace keel::alert_relay {
namespace {

constexpr std::size_t kMaxName = 64;

bool ValidName(std::string_view name) {
    return !name.empty() && name.size() <= kMaxName &&
           name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos;
}

// Telegram's thread ids are positive message ids; 1 is the General topic.
std::optional<std::int64_t> ThreadId(std::string_view text) {
    std::int64_t id = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec != std::errc{} || end != text.data() + text.size() || id < 1) return std::nullopt;
    return id;
}

std::string Trim(std::string_view s) {
    const auto first = s.find_first_not_of(' ');
    if (first == std::string_view::npos) return {};
    const auto last = s.find_last_not_of(' ');
    return std::string(s.substr(first, last - first + 1));
}

}  // namespace

ThreadMap ThreadMap::Parse(std::string_view text, std::vector<std::string>& problems) {
    ThreadMap map;
    if (Trim(text).empty()) return map;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto comma = std::min(text.find(',', start), text.size());
        const auto entry = Trim(text.substr(start, comma - start));
        start = comma + 1;
        const auto eq = entry.find('=');
        const std::string name = eq == std::string::npos ? entry : Trim(entry.substr(0, eq));
        const auto id =
            eq == std::string::npos ? std::nullopt : ThreadId(Trim(entry.substr(eq + 1)));
        if (!ValidName(name) || !id) {
            problems.push_back("ALERT_THREADS entry '" + entry +
                               "' is not NAME=THREAD_ID (NAME: a service, a severity or "
                               "'default', in [a-z0-9_-]; THREAD_ID: a positive integer)");
            continue;
        }
        if (!map.threads_.emplace(name, *id).second)
            problems.push_back("ALERT_THREADS names '" + name + "' twice");
    }
    return map;
}

std::optional<std::int64_t> ThreadMap::Find(const std::string& name) const {
    const auto it = threads_.find(name);
    if (it == threads_.end()) return std::nullopt;
    return it->second;
}

std::optional<std::int64_t> ThreadMap::For(const std::map<std::string, std::string>& labels) const {
    const auto label = [&labels](const char* key) {
        const auto it = labels.find(key);
        return it == labels.end() ? std::string() : it->second;
    };
    auto service = label("service");
    if (service.empty()) service = label("job");
    if (!service.empty()) {
        if (auto id = Find(service)) return id;
    }
    const auto severity = label("severity");
    if (!severity.empty()) {
        if (auto id = Find(severity)) return id;
    }
    return Find("default");
}

}  // namespace keel::alert_relay
