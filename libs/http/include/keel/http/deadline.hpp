#pragma once
#include <chrono>
#include <string_view>

namespace keel::http {

/// How much time a request has left, in whole milliseconds, as a caller tells the service it
/// calls. Relative rather than an absolute time, so the two machines' clocks need not agree.
/// A server answers 504 at once to a request whose budget is 0, and its handler's outgoing
/// calls use the smaller of their own timeout and what is left (RequestContext::Deadline).
inline constexpr std::string_view kTimeoutHeader = "X-Request-Timeout-Ms";

using SteadyTime = std::chrono::steady_clock::time_point;

}  // namespace keel::http
