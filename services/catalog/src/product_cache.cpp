#include "product_cache.hpp"

#include <keel/core/log.hpp>

namespace keel::catalog {

// ---- LocalProductCache ----

std::size_t LocalProductCache::Slot(const std::string& id) const {
    return std::hash<std::string>{}(id) % epochs_.size();
}

LocalProductCache::Ticket LocalProductCache::Begin(const std::string& id) const {
    const auto slot = Slot(id);
    std::lock_guard lock(mutex_);
    return Ticket{generation_, epochs_[slot], listening_};
}

bool LocalProductCache::Store(const std::string& id, std::string json, Ticket ticket) {
    const auto slot = Slot(id);
    const auto now = options_.now();
    std::lock_guard lock(mutex_);
    if (!ticket.listening || !listening_ || ticket.generation != generation_ ||
        ticket.epoch != epochs_[slot])
        return false;
    if (auto found = index_.find(id); found != index_.end()) Erase(found->second);
    lru_.push_front(Entry{id, std::move(json), now, generation_, false});
    const auto cost = Cost(lru_.front());
    if (cost > options_.max_bytes) {
        lru_.pop_front();
        return false;
    }
    index_.emplace(id, lru_.begin());
    bytes_ += cost;
    while (index_.size() > options_.max_entries || bytes_ > options_.max_bytes)
        Erase(std::prev(lru_.end()));
    return true;
}

void LocalProductCache::Erase(Lru::iterator it) {
    bytes_ -= Cost(*it);
    index_.erase(it->id);
    lru_.erase(it);
}

std::optional<std::string> LocalProductCache::Fresh(const std::string& id) {
    const auto now = options_.now();
    std::lock_guard lock(mutex_);
    if (!listening_) return std::nullopt;
    auto found = index_.find(id);
    if (found == index_.end()) return std::nullopt;
    const auto it = found->second;
    if (it->invalidated || it->generation != generation_ || now - it->stored >= options_.ttl)
        return std::nullopt;
    lru_.splice(lru_.begin(), lru_, it);
    return it->json;
}

std::optional<std::string> LocalProductCache::Stale(const std::string& id) {
    const auto now = options_.now();
    std::lock_guard lock(mutex_);
    auto found = index_.find(id);
    if (found == index_.end()) return std::nullopt;
    const auto it = found->second;
    if (now - it->stored >= options_.stale_ttl) {
        Erase(it);
        return std::nullopt;
    }
    return it->json;
}

void LocalProductCache::Invalidate(const std::string& id) {
    const auto slot = Slot(id);
    std::lock_guard lock(mutex_);
    ++epochs_[slot];
    if (auto found = index_.find(id); found != index_.end()) found->second->invalidated = true;
}

void LocalProductCache::InvalidateAll() {
    std::lock_guard lock(mutex_);
    ++generation_;
}

void LocalProductCache::Listening() {
    std::lock_guard lock(mutex_);
    ++generation_;
    listening_ = true;
}

void LocalProductCache::Lost() {
    std::lock_guard lock(mutex_);
    ++generation_;
    listening_ = false;
}

LocalProductCache::Stats LocalProductCache::Size() const {
    std::lock_guard lock(mutex_);
    return Stats{index_.size(), bytes_};
}

// ---- ProductCache ----

ProductCache::ProductCache(std::shared_ptr<redis::Client> redis, std::chrono::seconds ttl,
                           LocalCacheOptions local)
    : redis_(std::move(redis)),
      ttl_(ttl),
      local_(std::make_shared<LocalProductCache>(std::move(local))) {}

ProductCache::~ProductCache() { Stop(); }

void ProductCache::Listen(asio::any_io_executor executor, redis::ClientOptions connection) {
    redis::SubscriberOptions options;
    options.connection = std::move(connection);
    // The whole namespace, so that a future v2 key is covered too.
    options.tracking_prefixes = {"catalog:product:"};
    redis::SubscriberHandlers handlers;
    handlers.on_subscribed = [local = local_] {
        local->Listening();
        log::Info("product cache invalidations subscribed; local cache on");
    };
    handlers.on_lost = [local = local_] { local->Lost(); };
    handlers.on_message = [local = local_](const std::string& channel, const redis::Reply& keys) {
        if (channel != redis::kInvalidateChannel) return;
        if (keys.type != redis::Reply::Type::kArray) {
            local->InvalidateAll();  // nil: a flush
            return;
        }
        for (const auto& key : keys.elements) {
            if (key.text.starts_with(kKeyPrefix))
                local->Invalidate(key.text.substr(kKeyPrefix.size()));
        }
    };
    subscriber_ =
        redis::Subscriber::Start(std::move(executor), std::move(options), std::move(handlers));
}

void ProductCache::Stop() {
    if (subscriber_) subscriber_->Stop();
    subscriber_.reset();
    local_->Lost();
}

Task<std::optional<std::string>> ProductCache::Get(const std::string& id) {
    const auto ticket = local_->Begin(id);
    std::optional<std::string> json;
    try {
        json = co_await redis_->Get(Key(id));
    } catch (const redis::ConnectionError& e) {
        log::Debug("product cache unavailable", {{"error", e.what()}});
    }
    if (json) local_->Store(id, *json, ticket);
    co_return json;
}

Task<void> ProductCache::Put(const std::string& id, const std::string& json) {
    try {
        co_await redis_->Set(Key(id), json, ttl_);
    } catch (const redis::ConnectionError& e) {
        log::Debug("product cache unavailable", {{"error", e.what()}});
    }
}

Task<void> ProductCache::Invalidate(const std::string& id) {
    // Here at once, and again after the DEL: a read of this process that Redis served
    // just before the DEL must not keep the old value (its ticket no longer matches).
    // The other instances drop theirs when Redis' invalidation reaches them.
    local_->Invalidate(id);
    try {
        co_await redis_->Del(Key(id));
    } catch (const redis::ConnectionError& e) {
        // The entry expires by its TTL; say so, since readers may see the old product until then.
        log::Warn("product cache invalidation failed", {{"product_id", id}, {"error", e.what()}});
    }
    local_->Invalidate(id);
}

}  // namespace keel::catalog
