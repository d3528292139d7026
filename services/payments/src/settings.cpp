#include "settings.hpp"

#include <algorithm>

namespace keel::payments {

Settings ReadSettings(core::EnvConfig& config) {
    Settings s;
    s.tokens = service::ReadTokenSettings(config);
    s.currency = config.String("PAYMENTS_CURRENCY", "USD");
    s.provider_secret = config.Secret("PAYMENT_PROVIDER_SECRET", "");
    return s;
}

void ThrowOnProblems(const Settings& settings) {
    const auto& currency = settings.currency;
    const bool iso_4217 =
        currency.size() == 3 &&
        std::all_of(currency.begin(), currency.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    std::vector<std::string> problems;
    if (!iso_4217)
        problems.push_back("PAYMENTS_CURRENCY='" + currency +
                           "' is not an ISO 4217 code such as USD");
    const auto secret_length = settings.provider_secret.size();
    if (secret_length > 0 && secret_length < kMinProviderSecret) {
        problems.push_back("PAYMENT_PROVIDER_SECRET is shorter than " +
                           std::to_string(kMinProviderSecret) + " characters");
    }
    if (!problems.empty()) throw core::ConfigError(problems);
}

}  // namespace keel::payments
