#include "replies.hpp"

#include <cstdio>

namespace keel::release_bot {
namespace {

namespace json = boost::json;

std::string Str(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

double Num(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v) return 0;
    if (v->is_double()) return v->as_double();
    if (v->is_int64()) return static_cast<double>(v->as_int64());
    if (v->is_uint64()) return static_cast<double>(v->as_uint64());
    return 0;
}

// "abc123 (commit 0123abcd4567)": keel-stack's content hash and the build's commit
std::string Version(const json::value* meta) {
    if (!meta || !meta->is_object()) return "";
    const auto& m = meta->as_object();
    const auto commit = Str(m, "commit");
    return commit.empty() || commit == "unknown" ? "binary " + Str(m, "hash")
                                                 : commit + " (binary " + Str(m, "hash") + ")";
}

std::string Percent(double ratio) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", ratio * 100);
    return buf;
}

struct ServiceLine {
    int running = 0;
    int ready = 0;
    std::vector<std::string> versions;
    double requests = 0;
    double errors = 0;
};

ServiceLine Summarize(const json::array& replicas) {
    ServiceLine s;
    for (const auto& r : replicas) {
        if (!r.is_object()) continue;
        const auto& o = r.as_object();
        if (Str(o, "state") == "running") ++s.running;
        const auto health = Str(o, "health");
        if (health == "healthy" || health == "none") ++s.ready;
        const auto version = Str(o, "version");
        bool seen = false;
        for (const auto& v : s.versions) seen = seen || v == version;
        if (!version.empty() && !seen) s.versions.push_back(version);
        s.requests += Num(o, "requests");
        s.errors += Num(o, "errors_5xx");
    }
    return s;
}

}  // namespace

std::string EscapeHtml(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '&')
            out += "&amp;";
        else if (c == '<')
            out += "&lt;";
        else if (c == '>')
            out += "&gt;";
        else
            out += c;
    }
    return out;
}

RollOutcome ReadRollOutcome(const json::value& result) {
    RollOutcome out;
    if (!result.is_object()) {
        out.outcome = "failed";
        out.detail = "keel-stack gave no result";
        return out;
    }
    const auto& o = result.as_object();
    out.outcome = Str(o, "outcome");
    if (out.outcome.empty()) out.outcome = "failed";
    out.from_version = Version(o.if_contains("from"));
    out.to_version = Version(o.if_contains("to"));
    out.detail = Str(o, "error");
    if (const auto replica = Str(o, "replica"); !replica.empty())
        out.detail = replica + ": " + out.detail;
    return out;
}

std::string FormatStatus(const json::value& ps, const std::map<std::string, double>& error_rates) {
    if (!ps.is_object() || !ps.as_object().if_contains("services"))
        return "keel-stack gave no status";
    const auto& services = ps.as_object().at("services");
    if (!services.is_object()) return "keel-stack gave no status";
    std::string out = "<b>Status</b>";
    for (const auto& item : services.as_object()) {
        const auto* replicas =
            item.value().is_object() ? item.value().as_object().if_contains("replicas") : nullptr;
        if (!replicas || !replicas->is_array()) continue;
        const auto s = Summarize(replicas->as_array());
        const auto total = static_cast<int>(replicas->as_array().size());
        out += "\n" + std::string(s.ready == total ? "🟢 " : s.ready > 0 ? "🟡 " : "🔴 ");
        out += "<b>" + EscapeHtml(item.key()) + "</b> " + std::to_string(s.ready) + "/" +
               std::to_string(total) + " ready";
        if (!s.versions.empty()) {
            out += " · ";
            for (std::size_t i = 0; i < s.versions.size(); ++i)
                out += (i ? "+" : "") + EscapeHtml(s.versions[i]);
        }
        if (const auto rate = error_rates.find(std::string(item.key())); rate != error_rates.end())
            out += " · 5xx " + Percent(rate->second) + " (5 min)";
        else if (s.requests > 0)
            out += " · 5xx " + Percent(s.errors / s.requests) + " of " +
                   std::to_string(static_cast<long long>(s.requests)) + " since start";
    }
    return out;
}

std::string FormatOutcome(std::string_view command, std::string_view service, std::string_view who,
                          const RollOutcome& o) {
    const std::string svc = "<b>" + EscapeHtml(service) + "</b>";
    const std::string what = command == "rollback" ? "rollback of " : "release of ";
    const std::string by = who.empty() ? "" : " (by " + EscapeHtml(who) + ")";
    const std::string change = EscapeHtml(o.from_version) + " → " + EscapeHtml(o.to_version);
    if (o.outcome == "released")
        return "✅ " + std::string(command == "rollback" ? "Rolled back " : "Released ") + svc +
               ": " + change + by;
    if (o.outcome == "unchanged")
        return "ℹ️ " + svc + " already runs " + EscapeHtml(o.to_version) + ": nothing to do" +
               by;
    if (o.outcome == "rolled_back")
        return "↩️ The " + what + svc + " failed and was rolled back to " +
               EscapeHtml(o.from_version) + ": " + EscapeHtml(o.detail) + by;
    if (o.outcome == "refused")
        return "⛔ The " + what + svc + " was refused: " + EscapeHtml(o.detail) + by;
    return "❌ The " + what + svc +
           " failed and could not be rolled back completely: " + EscapeHtml(o.detail) +
           ". Look at keel-stack ps" + by;
}

std::string FormatHistory(const std::vector<AuditEntry>& entries) {
    if (entries.empty()) return "No releases yet.";
    std::string out = "<b>History</b> (newest first)";
    for (const auto& e : entries) {
        out += "\n" + EscapeHtml(e.started_at) + " " + EscapeHtml(e.request.command) + " <b>" +
               EscapeHtml(e.request.service) + "</b> " + EscapeHtml(e.outcome);
        if (!e.from_version.empty() || !e.to_version.empty())
            out += ": " + EscapeHtml(e.from_version) + " → " + EscapeHtml(e.to_version);
        out += " — " + (e.request.username.empty() ? "chat " + std::to_string(e.request.chat_id)
                                                   : "@" + EscapeHtml(e.request.username));
        if (!e.detail.empty() && e.outcome != "released") out += " (" + EscapeHtml(e.detail) + ")";
    }
    return out;
}

}  // namespace keel::release_bot
