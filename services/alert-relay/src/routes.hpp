#pragma once
#include <memory>

#include <keel/http/router.hpp>

#include "relay.hpp"

namespace keel::alert_relay {

/// POST /internal/alertmanager (service token): Alertmanager's webhook.
http::Router MakeRouter(std::shared_ptr<Relay> relay);

}  // namespace keel::alert_relay
