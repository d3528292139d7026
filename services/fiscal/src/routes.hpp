#pragma once
#include <memory>

#include <keel/http/router.hpp>

#include "receipt_store.hpp"

namespace keel::fiscal {

struct FiscalContext {
    std::shared_ptr<ReceiptStore> receipts;
};

/// GET /api/fiscal/receipts (access token) and /internal/receipts/stats (service token).
http::Router MakeRouter(const std::shared_ptr<FiscalContext>& ctx);

}  // namespace keel::fiscal
