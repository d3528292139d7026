#pragma once

namespace keel::service {

/// What this binary was built from: the git commit (12 hex digits, "-dirty" when tracked
/// files differed from it, "unknown" without git) and when that commit was first built
/// here (UTC, ISO 8601). Exported as keel_build_info and printed by `--version`.
struct BuildInfo {
    const char* commit;
    const char* built;
};

const BuildInfo& Build();

}  // namespace keel::service
