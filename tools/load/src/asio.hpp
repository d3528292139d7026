#pragma once
#include <boost/asio.hpp>

namespace keel::load {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
/// Completion token of every awaited operation here: errors as values, no exceptions per request.
inline constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
}  // namespace keel::load
