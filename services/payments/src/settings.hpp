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
};

/// Reads them; problems go to `config` except a malformed currency, which
/// ThrowOnProblems reports after EnvConfig::Finish.
Settings ReadSettings(core::EnvConfig& config);
/// Throws core::ConfigError when PAYMENTS_CURRENCY is not an ISO 4217 code.
void ThrowOnProblems(const Settings& settings);

}  // namespace keel::payments
