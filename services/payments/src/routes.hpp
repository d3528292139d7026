#pragma once
#include <memory>
#include <optional>
#include <string>

#include <keel/http/router.hpp>

#include "wallet_store.hpp"

namespace keel::payments {

struct PaymentsContext {
    std::shared_ptr<WalletStore> wallets;
};

/// The wallet routes (access token) and /internal/ledger/check (service token).
http::Router MakeRouter(const std::shared_ptr<PaymentsContext>& ctx);

/// The Idempotency-Key header: nullopt when absent; HttpError 400 unless it is 1 to
/// 255 visible ASCII characters.
std::optional<std::string> ReadIdempotencyKey(const http::Request& request);

}  // namespace keel::payments
