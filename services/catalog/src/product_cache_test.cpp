#include <gtest/gtest.h>

#include "product_cache.hpp"

namespace keel::catalog {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct FakeClock {
    std::shared_ptr<Clock::time_point> now = std::make_shared<Clock::time_point>();
    void Advance(Clock::duration d) const { *now += d; }
};

LocalCacheOptions Options(const FakeClock& clock) {
    LocalCacheOptions o;
    o.max_entries = 3;
    o.max_bytes = 10'000;
    o.ttl = 60s;
    o.stale_ttl = 600s;
    o.now = [now = clock.now] { return *now; };
    return o;
}

bool Put(LocalProductCache& cache, const std::string& id, std::string json) {
    return cache.Store(id, std::move(json), cache.Begin(id));
}

TEST(LocalProductCache, NothingIsStoredOrServedWithoutTheSubscription) {
    FakeClock clock;
    LocalProductCache cache(Options(clock));
    EXPECT_FALSE(Put(cache, "a", "{}"));
    EXPECT_EQ(cache.Fresh("a"), std::nullopt);
    cache.Listening();
    EXPECT_TRUE(Put(cache, "a", "{1}"));
    EXPECT_EQ(cache.Fresh("a"), "{1}");
}

TEST(LocalProductCache, LostSubscriptionDropsEveryFreshEntryButKeepsTheStaleCopy) {
    FakeClock clock;
    LocalProductCache cache(Options(clock));
    cache.Listening();
    EXPECT_TRUE(Put(cache, "a", "{1}"));
    const auto before = cache.Begin("a");
    cache.Lost();
    EXPECT_EQ(cache.Fresh("a"), std::nullopt);
    EXPECT_EQ(cache.Stale("a"), "{1}");
    cache.Listening();
    // Re-subscribing does not bring old entries back: invalidations were missed meanwhile.
    EXPECT_EQ(cache.Fresh("a"), std::nullopt);
    // A value fetched before the loss is not stored after it.
    EXPECT_FALSE(cache.Store("a", "{old}", before));
    EXPECT_TRUE(Put(cache, "a", "{2}"));
    EXPECT_EQ(cache.Fresh("a"), "{2}");
}

TEST(LocalProductCache, InvalidationDuringAFetchRejectsTheFetchedValue) {
    FakeClock clock;
    LocalProductCache cache(Options(clock));
    cache.Listening();
    const auto ticket = cache.Begin("a");
    cache.Invalidate("a");
    EXPECT_FALSE(cache.Store("a", "{old}", ticket));
    EXPECT_EQ(cache.Fresh("a"), std::nullopt);
    // A fetch that started after the invalidation is stored.
    EXPECT_TRUE(Put(cache, "a", "{new}"));
    EXPECT_EQ(cache.Fresh("a"), "{new}");
}

TEST(LocalProductCache, InvalidatedEntryIsOnlyAStaleCopy) {
    FakeClock clock;
    LocalProductCache cache(Options(clock));
    cache.Listening();
    EXPECT_TRUE(Put(cache, "a", "{1}"));
    EXPECT_TRUE(Put(cache, "b", "{2}"));
    cache.Invalidate("a");
    EXPECT_EQ(cache.Fresh("a"), std::nullopt);
    EXPECT_EQ(cache.Stale("a"), "{1}");
    EXPECT_EQ(cache.Fresh("b"), "{2}");
    cache.InvalidateAll();
    EXPECT_EQ(cache.Fresh("b"), std::nullopt);
    EXPECT_EQ(cache.Stale("b"), "{2}");
}

TEST(LocalProductCache, TtlEndsFreshnessAndStaleTtlEndsTheCopy) {
    FakeClock clock;
    LocalProductCache cache(Options(clock));
    cache.Listening();
    EXPECT_TRUE(Put(cache, "a", "{1}"));
    clock.Advance(59s);
    EXPECT_EQ(cache.Fresh("a"), "{1}");
    clock.Advance(1s);
    EXPECT_EQ(cache.Fresh("a"), std::nullopt);
    EXPECT_EQ(cache.Stale("a"), "{1}");
    clock.Advance(540s);
    EXPECT_EQ(cache.Stale("a"), std::nullopt);
    EXPECT_EQ(cache.Size().entries, 0U);
}

TEST(LocalProductCache, EntriesBoundEvictsTheLeastRecentlyUsed) {
    FakeClock clock;
    LocalProductCache cache(Options(clock));
    cache.Listening();
    EXPECT_TRUE(Put(cache, "a", "{a}"));
    EXPECT_TRUE(Put(cache, "b", "{b}"));
    EXPECT_TRUE(Put(cache, "c", "{c}"));
    EXPECT_EQ(cache.Fresh("a"), "{a}");  // a is now the most recent
    EXPECT_TRUE(Put(cache, "d", "{d}"));
    EXPECT_EQ(cache.Size().entries, 3U);
    EXPECT_EQ(cache.Stale("b"), std::nullopt);
    EXPECT_EQ(cache.Fresh("a"), "{a}");
    EXPECT_EQ(cache.Fresh("c"), "{c}");
    EXPECT_EQ(cache.Fresh("d"), "{d}");
}

TEST(LocalProductCache, BytesBoundHolds) {
    FakeClock clock;
    auto options = Options(clock);
    options.max_entries = 1000;
    options.max_bytes = 1000;
    LocalProductCache cache(options);
    cache.Listening();
    const std::string big(300, 'x');
    for (int i = 0; i < 20; ++i) {
        EXPECT_TRUE(Put(cache, "id" + std::to_string(i), big));
        EXPECT_LE(cache.Size().bytes, 1000U);
    }
    EXPECT_EQ(cache.Size().entries, 2U);  // 2 × (3 + 300 + 128) bytes fit, 3 do not
    EXPECT_EQ(cache.Fresh("id19"), big);
    // A value larger than the whole budget is not kept at all.
    EXPECT_FALSE(Put(cache, "huge", std::string(2000, 'y')));
    EXPECT_EQ(cache.Stale("huge"), std::nullopt);
    EXPECT_LE(cache.Size().bytes, 1000U);
}

}  // namespace
}  // namespace keel::catalog
