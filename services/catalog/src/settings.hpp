#pragma once
#include <chrono>

#include <keel/core/config.hpp>
#include <keel/service/app.hpp>

#include "product_cache.hpp"

namespace keel::catalog {

/// catalog's own settings (README.md lists them with their defaults).
struct Settings {
    service::TokenSettings tokens;
    std::chrono::seconds cache_ttl{300};  ///< CATALOG_CACHE_TTL_S: product cache entries
    /// CATALOG_LOCAL_CACHE_ENTRIES (0: no in-process tier), CATALOG_LOCAL_CACHE_BYTES,
    /// CATALOG_LOCAL_CACHE_TTL_S, CATALOG_STALE_TTL_S.
    LocalCacheOptions local_cache;
};

/// Reads them; problems go to `config` (see EnvConfig::Finish).
Settings ReadSettings(core::EnvConfig& config);

}  // namespace keel::catalog
