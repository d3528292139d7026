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

/// Everything orders reads from its environment (README.md lists the variables).
struct Settings {
    service::CommonSettings common;
    service::TokenSettings tokens;
    CatalogSettings catalog;
};

/// Reads them all. Throws core::ConfigError naming every variable that is missing
/// or malformed.
Settings ReadSettings(core::EnvConfig& config);

/// The problem with CATALOG_URL's value, naming the variable; nullopt when it is an
/// http:// URL with a host and nothing after the path.
std::optional<std::string> CheckCatalogUrl(const std::string& url);

}  // namespace keel::orders
