#include "command.hpp"

#include <vector>

namespace keel::release_bot {
namespace {

std::vector<std::string_view> Words(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n')) ++i;
        const std::size_t start = i;
        while (i < text.size() && text[i] != ' ' && text[i] != '\t' && text[i] != '\n') ++i;
        if (i > start) words.push_back(text.substr(start, i - start));
    }
    return words;
}

bool IsServiceName(std::string_view s) {
    if (s.empty() || s.size() > 63 || s[0] < 'a' || s[0] > 'z') return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    return true;
}

Command WithService(Command::Kind kind, std::string_view name,
                    const std::vector<std::string_view>& words) {
    Command c;
    if (words.size() != 2) {
        c.kind = Command::Kind::kUsage;
        c.error =
            "usage: /" + std::string(name) + " SERVICE (e.g. /" + std::string(name) + " catalog)";
        return c;
    }
    if (!IsServiceName(words[1])) {
        c.kind = Command::Kind::kUsage;
        c.error = "not a service name: " + std::string(words[1].substr(0, 64));
        return c;
    }
    c.kind = kind;
    c.service = std::string(words[1]);
    return c;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
    if (a.empty() || a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

}  // namespace

Command ParseCommand(std::string_view text, std::string_view bot_username) {
    const auto words = Words(text);
    if (words.empty() || words[0].size() < 2 || words[0][0] != '/') return {};
    std::string_view name = words[0].substr(1);
    if (const auto at = name.find('@'); at != std::string_view::npos) {
        // Addressed to a bot by name: obey only when it is surely this one (an ops group may
        // hold a staging bot too; "/rollback@staging_bot catalog" must not roll back here).
        // Telegram usernames are case-insensitive.
        if (!EqualsIgnoringCase(name.substr(at + 1), bot_username)) return {};
        name = name.substr(0, at);
    }
    if (name == "status" || name == "history") {
        Command c;
        c.kind = name == "status" ? Command::Kind::kStatus : Command::Kind::kHistory;
        if (words.size() != 1) {
            c.kind = Command::Kind::kUsage;
            c.error = "usage: /" + std::string(name) + " (no arguments)";
        }
        return c;
    }
    if (name == "release") return WithService(Command::Kind::kRelease, name, words);
    if (name == "rollback") return WithService(Command::Kind::kRollback, name, words);
    Command c;
    c.kind = Command::Kind::kHelp;
    if (name != "help" && name != "start")
        c.error = "unknown command /" + std::string(name.substr(0, 64));
    return c;
}

std::string HelpText() {
    return "Commands:\n"
           "/status — every service: version, instances, health, error rate\n"
           "/release SERVICE — roll SERVICE onto the binary now built, one instance at a time "
           "(readiness and error-rate gated; rolls back on failure)\n"
           "/rollback SERVICE — roll SERVICE back onto its previous release\n"
           "/history — the latest releases and rollbacks";
}

}  // namespace keel::release_bot
