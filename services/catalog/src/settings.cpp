#include "settings.hpp"

namespace keel::catalog {

Settings ReadSettings(core::EnvConfig& config) {
    Settings s;
    s.tokens = service::ReadTokenSettings(config);
    s.cache_ttl = std::chrono::seconds(config.Int("CATALOG_CACHE_TTL_S", 300, 1, 86400));
    return s;
}

}  // namespace keel::catalog
