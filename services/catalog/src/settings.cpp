#include "settings.hpp"

namespace keel::catalog {

Settings ReadSettings(core::EnvConfig& config) {
    Settings s;
    s.tokens = service::ReadTokenSettings(config);
    s.cache_ttl = std::chrono::seconds(config.Int("CATALOG_CACHE_TTL_S", 300, 1, 86400));
    auto& local = s.local_cache;
    local.max_entries =
        static_cast<std::size_t>(config.Int("CATALOG_LOCAL_CACHE_ENTRIES", 10'000, 0, 10'000'000));
    local.max_bytes = static_cast<std::size_t>(
        config.Int("CATALOG_LOCAL_CACHE_BYTES", std::int64_t{32} << 20, 0, std::int64_t{1} << 34));
    local.ttl = std::chrono::seconds(config.Int("CATALOG_LOCAL_CACHE_TTL_S", 60, 1, 86400));
    local.stale_ttl = std::chrono::seconds(config.Int("CATALOG_STALE_TTL_S", 3600, 0, 7 * 86400));
    return s;
}

}  // namespace keel::catalog
