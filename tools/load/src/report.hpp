#pragma once
// The results as JSON (the lab reads its keys), the timeline as CSV, and a summary for people.
#include <string>

#include "options.hpp"
#include "run.hpp"
#include "setup.hpp"

namespace keel::load {

std::string ResultJson(const Options& options, const RunResult& result, const SetupReport* setup);
std::string TimelineCsv(const RunResult& result);
std::string Summary(const Options& options, const RunResult& result);

}  // namespace keel::load
