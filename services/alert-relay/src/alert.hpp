#pragma once
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

namespace keel::alert_relay {

/// One alert of Alertmanager's webhook (version 4), as much of it as the relay uses.
struct Alert {
    std::string status;       // "firing" | "resolved"
    std::string fingerprint;  // Alertmanager's hash of the labels: [0-9a-f]+
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> annotations;
    std::string starts_at;  // RFC 3339, as sent: part of the dedupe key
    std::string ends_at;    // RFC 3339; "0001-01-01T00:00:00Z" while firing
    std::string generator_url;

    bool Firing() const { return status == "firing"; }
    /// The label, or "" when absent.
    std::string Label(const std::string& name) const;
    /// What identifies this state change of this alert across repeats and relay instances:
    /// fingerprint, status and startsAt in Unix milliseconds (one instant however it is
    /// written: Alertmanager's webhook sends nanoseconds, its API milliseconds).
    std::string DedupeId() const;
};

/// The webhook's body: {version, groupKey, status, receiver, alerts: [...], ...}.
struct Webhook {
    std::string receiver;
    std::string group_key;
    std::vector<Alert> alerts;
};

/// Reads a webhook body. Members the relay does not use are ignored (Alertmanager adds
/// some between versions); the ones it uses are checked. Returns the problems as
/// (field, problem) pairs when there are any, e.g. ("alerts[2].fingerprint", "missing").
struct ParsedWebhook {
    Webhook webhook;
    std::vector<std::pair<std::string, std::string>> problems;
};
ParsedWebhook ParseWebhook(const boost::json::object& body);

/// An RFC 3339 time ("2026-11-30T12:00:00.123Z", "...+03:00"); nullopt when malformed,
/// and for Alertmanager's zero time (year 1), which means "not set".
std::optional<std::chrono::system_clock::time_point> ParseTime(std::string_view text);

}  // namespace keel::alert_relay
