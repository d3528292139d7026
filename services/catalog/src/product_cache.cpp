#include "product_cache.hpp"

#include <keel/core/log.hpp>

namespace keel::catalog {

Task<std::optional<std::string>> ProductCache::Get(const std::string& id) {
    try {
        co_return co_await redis_->Get(Key(id));
    } catch (const redis::ConnectionError& e) {
        log::Debug("product cache unavailable", {{"error", e.what()}});
    }
    co_return std::nullopt;
}

Task<void> ProductCache::Put(const std::string& id, const std::string& json) {
    try {
        co_await redis_->Set(Key(id), json, ttl_);
    } catch (const redis::ConnectionError& e) {
        log::Debug("product cache unavailable", {{"error", e.what()}});
    }
}

Task<void> ProductCache::Invalidate(const std::string& id) {
    try {
        co_await redis_->Del(Key(id));
    } catch (const redis::ConnectionError& e) {
        // The entry expires by its TTL; say so, since readers may see the old product until then.
        log::Warn("product cache invalidation failed", {{"product_id", id}, {"error", e.what()}});
    }
}

}  // namespace keel::catalog
