#pragma once
#include <memory>
#include <optional>
#include <string>

#include <keel/http/router.hpp>

#include "top_up_store.hpp"
#include "wallet_store.hpp"

namespace keel::payments {

struct PaymentsContext {
    std::shared_ptr<WalletStore> wallets;
    std::shared_ptr<TopUpStore> top_ups;
    std::string provider_secret;  ///< PAYMENT_PROVIDER_SECRET; empty refuses every callback
};

/// The wallet and top-up routes (access token), the provider's callback (public, signed),
/// and the /internal routes (service token): ledger check, operators' top-up.
http::Router MakeRouter(const std::shared_ptr<PaymentsContext>& ctx);

/// POST /api/payments/provider/callback: the provider's word on a top-up. 401 (nothing
/// done) unless the X-Provider-Signature header is the HMAC-SHA256 of the exact body
/// under the shared secret; then TopUpStore::Settle, whose outcome gives the status
/// (200 credited/failed/replayed, 404, 409, 422). Exposed for tests.
Task<http::Response> ProviderCallbackRoute(std::shared_ptr<PaymentsContext> ctx,
                                           http::RequestContext& req);

/// The Idempotency-Key header: nullopt when absent; HttpError 400 unless it is 1 to
/// 255 visible ASCII characters.
std::optional<std::string> ReadIdempotencyKey(const http::Request& request);

}  // namespace keel::payments
