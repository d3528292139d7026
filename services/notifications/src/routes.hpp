#pragma once
#include <memory>

#include <keel/http/router.hpp>

#include "delivery_log.hpp"

namespace keel::notifications {

struct NotificationsContext {
    std::shared_ptr<DeliveryLog> log;
};

/// The caller's delivery log, and delivery statistics for tests and operators.
http::Router MakeRouter(const std::shared_ptr<NotificationsContext>& ctx);

}  // namespace keel::notifications
