#include "settings.hpp"

#include <algorithm>

namespace keel::payments {

Settings ReadSettings(core::EnvConfig& config) {
    Settings s;
    s.tokens = service::ReadTokenSettings(config);
    s.currency = config.String("PAYMENTS_CURRENCY", "USD");
    return s;
}

void ThrowOnProblems(const Settings& settings) {
    const auto& currency = settings.currency;
    const bool iso_4217 =
        currency.size() == 3 &&
        std::all_of(currency.begin(), currency.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    if (!iso_4217) {
        throw core::ConfigError(
            {"PAYMENTS_CURRENCY='" + currency + "' is not an ISO 4217 code such as USD"});
    }
}

}  // namespace keel::payments
