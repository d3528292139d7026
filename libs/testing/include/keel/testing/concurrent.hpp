#pragma once
#include <vector>

#include <keel/core/asio.hpp>

namespace keel::testing {

/// Starts every task at once on the calling coroutine's executor and returns when
/// all of them have finished. The first exception thrown (in time) by any of them
/// is rethrown then, after the others ran to their end; the rest are dropped.
Task<void> RunConcurrently(std::vector<Task<void>> tasks);

}  // namespace keel::testing
