#pragma once
#include <memory>

#include <keel/http/router.hpp>

#include "poller.hpp"

namespace keel::release_bot {

/// release-bot's HTTP side is the server every service has (/healthz, /readyz, /metrics); its
/// users talk to it through Telegram. GET /internal/lease (service token) says whether this
/// replica holds the polling lease.
http::Router MakeRouter(std::shared_ptr<Poller> poller);

}  // namespace keel::release_bot
