#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::alert_relay {

/// Which forum thread (Telegram's message_thread_id) of the ops chat an alert goes to, from
/// ALERT_THREADS, e.g. "catalog=11,critical=2,default=1". A name matches the alert's service
/// (its `service` label, else `job`) or its `severity` label; the service wins over the
/// severity, `default` takes the rest, and without a match and without `default` the alert
/// goes to the chat itself (no thread). Immutable once built, so thread-safe.
class ThreadMap final {
public:
    /// Parses the setting; an empty text maps nothing. Problems (one per entry, in
    /// EnvConfig's wording) go to `problems`, and the map then holds the good entries only.
    static ThreadMap Parse(std::string_view text, std::vector<std::string>& problems);

    std::optional<std::int64_t> For(const std::map<std::string, std::string>& labels) const;
    bool Empty() const { return threads_.empty(); }

private:
    std::optional<std::int64_t> Find(const std::string& name) const;

    std::map<std::string, std::int64_t> threads_;
};

}  // namespace keel::alert_relay
