#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <keel/redis/client.hpp>

namespace keel::catalog {

/// Cache-aside of product JSON in Redis, shared by all catalog instances. Reads fall
/// back to the database when Redis is unavailable; writes delete the entry after
/// the database commit, so the next read loads the new row.
class ProductCache final {
public:
    ProductCache(std::shared_ptr<redis::Client> redis, std::chrono::seconds ttl)
        : redis_(std::move(redis)), ttl_(ttl) {}

    Task<std::optional<std::string>> Get(const std::string& id);
    Task<void> Put(const std::string& id, const std::string& json);
    Task<void> Invalidate(const std::string& id);

private:
    static std::string Key(const std::string& id) { return "catalog:product:v1:" + id; }

    std::shared_ptr<redis::Client> redis_;
    std::chrono::seconds ttl_;
};

}  // namespace keel::catalog
