#pragma once
// The measured run: closed-loop users or open-loop arrivals on 1-2 io threads, a reporter that
// closes each second (timeline, progress line), and the results.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http_connection.hpp"
#include "options.hpp"
#include "recorder.hpp"
#include "users.hpp"

namespace keel::load {

struct TimelineRow {
    double t = 0;  // seconds since measuring began, at the end of the second
    double rps = 0;
    std::uint64_t ok = 0;
    std::uint64_t errors = 0;
    double p50_ms = 0;
    double p99_ms = 0;
    std::int64_t in_flight = 0;
    std::int64_t users = 0;
    std::uint64_t shed = 0;             // 503 answers this second (not in p50/p99)
    std::optional<double> shed_p99_ms;  // their p99; none without a 503
};

struct RunResult {
    double measured_s = 0;
    Totals totals;  // totals.shed: the 503s' latency over the run
    std::array<StepStats, kStepCount> steps;
    Histogram order_final;
    std::array<std::uint64_t, 3> order_outcomes{};  // confirmed, cancelled, not final in time
    std::vector<TimelineRow> timeline;
    double cpu_s = 0;
    /// Open loop: slots due in the window that were never sent (every connection was busy until
    /// the end): the generator or the server could not keep up. Not counted as requests.
    std::uint64_t unsent = 0;
};

/// What the run works with; filled by main before Run.
struct World {
    const Options& options;
    Target gateway;
    std::vector<std::string> products;
    std::vector<std::string> order_products;
    std::vector<User> users;
};

/// Runs warm-up then the measured duration and returns what was measured. Blocks.
RunResult Run(const World& world);

}  // namespace keel::load
