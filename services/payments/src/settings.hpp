#pragma once
#include <string>
#include <vector>

#include <keel/core/config.hpp>
#include <keel/service/app.hpp>

namespace keel::payments {

/// payments' own settings (README.md lists them with their defaults).
struct Settings {
    service::TokenSettings tokens;
    std::string currency = "USD";  ///< PAYMENTS_CURRENCY: the one currency wallets hold
    /// PAYMENT_PROVIDER_SECRET (a secret, at least 16 characters): the key of the HMAC-SHA256
    /// signature of the provider's callbacks. Empty (unset): every callback is refused,
    /// so no top-up completes.
    std::string provider_secret;
};

inline constexpr std::size_t kMinProviderSecret = 16;

/// Reads them; problems go to `config` except a malformed currency, which
/// ThrowOnProblems reports after EnvConfig::Finish.
Settings ReadSettings(core::EnvConfig& config);
/// Throws core::ConfigError when PAYMENTS_CURRENCY is not an ISO 4217 code or
/// PAYMENT_PROVIDER_SECRET is set but shorter than kMinProviderSecret.
void ThrowOnProblems(const Settings& settings);

}  // namespace keel::payments
