#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include <keel/redis/client.hpp>
#include <keel/redis/subscriber.hpp>

namespace keel::catalog {

struct LocalCacheOptions {
    std::size_t max_entries = 10'000;               ///< CATALOG_LOCAL_CACHE_ENTRIES
    std::size_t max_bytes = std::size_t{32} << 20;  ///< CATALOG_LOCAL_CACHE_BYTES
    std::chrono::seconds ttl{60};                   ///< CATALOG_LOCAL_CACHE_TTL_S: fresh life
    std::chrono::seconds stale_ttl{3600};           ///< CATALOG_STALE_TTL_S: stale fallback life
    /// Tests replace the clock.
    std::function<std::chrono::steady_clock::time_point()> now = [] {
        return std::chrono::steady_clock::now();
    };
};

/// The in-process copy of product JSON, bounded in entries and bytes (least recently
/// used goes first). An entry is fresh only while the invalidation subscription that
/// was up when it was stored is still up, no invalidation of its key has arrived, and
/// its TTL has not passed; otherwise it is kept (until its stale TTL or eviction) only
/// as a fallback for when the database is unreachable. Thread-safe.
class LocalProductCache final {
public:
    explicit LocalProductCache(LocalCacheOptions options) : options_(std::move(options)) {}

    /// Taken before a value is fetched from Redis; Store() accepts the value only if
    /// nothing could have changed it since (no invalidation of the key, no lost
    /// subscription), since an invalidation can overtake the fetched value.
    struct Ticket {
        std::uint64_t generation = 0;
        std::uint64_t epoch = 0;
        bool listening = false;
    };
    Ticket Begin(const std::string& id) const;
    bool Store(const std::string& id, std::string json, Ticket ticket);

    std::optional<std::string> Fresh(const std::string& id);
    /// Any copy younger than the stale TTL, fresh or not.
    std::optional<std::string> Stale(const std::string& id);

    void Invalidate(const std::string& id);
    /// Every entry becomes stale (a flush of Redis).
    void InvalidateAll();
    /// The subscription is up: entries stored from now on can be fresh.
    void Listening();
    /// The subscription is down: invalidations may be missed, so nothing is fresh
    /// (and nothing is stored) until Listening() again.
    void Lost();

    struct Stats {
        std::size_t entries = 0;
        std::size_t bytes = 0;
    };
    Stats Size() const;

private:
    struct Entry {
        std::string id;
        std::string json;
        std::chrono::steady_clock::time_point stored;
        std::uint64_t generation = 0;
        bool invalidated = false;
    };
    using Lru = std::list<Entry>;
    static std::size_t Cost(const Entry& e) { return e.id.size() + e.json.size() + 128; }
    std::size_t Slot(const std::string& id) const;
    void Erase(Lru::iterator it);

    LocalCacheOptions options_;
    mutable std::mutex mutex_;
    Lru lru_;  // most recently used first
    std::unordered_map<std::string, Lru::iterator> index_;
    std::size_t bytes_ = 0;
    std::uint64_t generation_ = 1;
    bool listening_ = false;
    // Invalidations counted per hash slot of the key, for Ticket.
    std::array<std::uint64_t, 1024> epochs_{};
};

/// Product JSON cached in two tiers: in this process (LocalProductCache) in front of
/// Redis (`catalog:product:v1:<id>`, shared by all instances). The local tier is kept
/// correct by Redis client-side caching in broadcast mode: every change of a key under
/// `catalog:product:` (by any instance, expiry or eviction) invalidates it here within a
/// push message's delay; while that subscription is down the local tier is bypassed.
/// Writes delete the Redis entry after the database commit. Redis unavailable: reads
/// fall back to the database.
class ProductCache final {
public:
    ProductCache(std::shared_ptr<redis::Client> redis, std::chrono::seconds ttl,
                 LocalCacheOptions local = {});
    ~ProductCache();
    ProductCache(const ProductCache&) = delete;
    ProductCache& operator=(const ProductCache&) = delete;

    /// Starts the invalidation subscription; without it only Redis is used.
    void Listen(asio::any_io_executor executor, redis::ClientOptions connection);
    /// Ends it (before the executor stops).
    void Stop();

    /// Fresh from this process, without suspending.
    std::optional<std::string> GetLocal(const std::string& id) { return local_->Fresh(id); }
    /// From Redis (kept here as well when nothing invalidated it meanwhile).
    Task<std::optional<std::string>> Get(const std::string& id);
    Task<void> Put(const std::string& id, const std::string& json);
    Task<void> Invalidate(const std::string& id);
    /// The last copy this process saw, however old (within the stale TTL): for when the
    /// database cannot be reached.
    std::optional<std::string> GetStale(const std::string& id) { return local_->Stale(id); }

    LocalProductCache& Local() { return *local_; }
    static constexpr std::string_view kKeyPrefix = "catalog:product:v1:";

private:
    static std::string Key(const std::string& id) { return std::string(kKeyPrefix) + id; }

    std::shared_ptr<redis::Client> redis_;
    std::chrono::seconds ttl_;
    std::shared_ptr<LocalProductCache> local_;
    std::shared_ptr<redis::Subscriber> subscriber_;
};

}  // namespace keel::catalog
