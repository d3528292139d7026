#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>

#include "audit_store.hpp"

namespace keel::release_bot {

/// Text for Telegram's HTML parse mode: & < > escaped.
std::string EscapeHtml(std::string_view text);

/// What a release or rollback came to, read from keel-stack's {"result": ...}.
struct RollOutcome {
    std::string outcome;  // released, rolled_back, failed, refused, unchanged
    std::string from_version;
    std::string to_version;
    std::string detail;  // why it failed or was refused; empty when it went well
};
RollOutcome ReadRollOutcome(const boost::json::value& result);

/// "/status": one line per service of keel-stack's `ps` result (with metrics): instances ready of
/// running, health, version (the build commit each replica reports in keel_build_info) and the
/// share of 5xx answers: from `error_rates` (VictoriaMetrics, last 5 minutes, by service) when it
/// has the service, else from the replicas' counters since they started.
std::string FormatStatus(const boost::json::value& ps,
                         const std::map<std::string, double>& error_rates);

/// The announcement of a release's or rollback's end (HTML).
std::string FormatOutcome(std::string_view command, std::string_view service, std::string_view who,
                          const RollOutcome& outcome);

/// "/history": the newest rows first (HTML).
std::string FormatHistory(const std::vector<AuditEntry>& entries);

}  // namespace keel::release_bot
