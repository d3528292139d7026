#pragma once
#include <chrono>
#include <optional>
#include <string>

#include <keel/core/config.hpp>
#include <keel/service/app.hpp>

namespace keel::orders {

/// Where orders prices lines: CATALOG_URL (required: base URL of catalog's internal
/// API, plain http://), CATALOG_DEADLINE_MS [2000].
struct CatalogSettings {
    std::string base_url;  // without a trailing '/'
    std::chrono::milliseconds deadline{2000};
};

/// When a PENDING order gives up: ORDER_PENDING_TIMEOUT_S [30, 1 to 86400] after it was
/// placed it is cancelled; instances look for such orders every ORDER_SWEEP_INTERVAL_MS
/// [1000, 100 to 60000].
struct PendingSettings {
    std::chrono::seconds timeout{30};
    std::chrono::milliseconds sweep_interval{1000};
};

/// Everything orders reads from its environment (README.md lists the variables).
struct Settings {
    service::CommonSettings common;
    service::TokenSettings tokens;
    CatalogSettings catalog;
    PendingSettings pending;
};

/// Reads them all. Throws core::ConfigError naming every variable that is missing
/// or malformed.
Settings ReadSettings(core::EnvConfig& config);

/// The problem with CATALOG_URL's value, naming the variable; nullopt when it is an
/// http:// URL with a host and nothing after the path.
std::optional<std::string> CheckCatalogUrl(const std::string& url);

}  // namespace keel::orders
