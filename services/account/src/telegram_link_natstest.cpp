// One-time Telegram links against real PostgreSQL (and nats-server, which the bus behind the
// profile change needs): hashing, expiry, single use, replacement.
#include <keel/auth/crypto.hpp>
#include <keel/core/uuid.hpp>
#include <keel/testing/bus.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "migrations.hpp"
#include "profile_store.hpp"
#include "telegram_link.hpp"

namespace keel::account {
namespace {

struct Rig {
    std::shared_ptr<pg::Pool> pool;
    std::shared_ptr<bus::Bus> bus;
    std::shared_ptr<ProfileStore> profiles;
    std::shared_ptr<TelegramLinkStore> links;
    bus::Origin origin;
};

Task<Rig> StartRig(const std::string& name) {
    Rig r;
    r.pool = co_await testing::MigratedPool(name, Migrations(), "account");
    r.bus = bus::Bus::Create(co_await asio::this_coro::executor, r.pool,
                             keel::testing::TestBusSettings(name));
    r.bus->Publishes(kProfileUpdated);
    co_await r.bus->Start();
    r.profiles = std::make_shared<ProfileStore>(r.pool, r.bus);
    r.links =
        std::make_shared<TelegramLinkStore>(r.pool, r.bus, r.profiles, std::chrono::seconds(600));
    r.origin = r.bus->FromRequest("", "", "test");
    co_return r;
}

Task<std::string> NewUser(pg::Pool& pool) {
    const auto user = Uuid::V7().ToString();
    co_await pool.Execute("INSERT INTO profiles (user_id, email) VALUES ($1::uuid, $2)", user,
                          user + "@example.com");
    co_return user;
}

Task<std::string> Text(pg::Pool& pool, const std::string& sql) {
    auto r = co_await pool.Execute(sql);
    co_return r.IsNull(0, 0) ? "null" : std::string(r.Text(0, 0));
}

Task<std::string> ChatOf(pg::Pool& pool, const std::string& user) {
    co_return co_await Text(
        pool, "SELECT telegram_chat_id::text FROM profiles WHERE user_id = '" + user + "'");
}

Task<std::string> Events(pg::Pool& pool) {
    co_return co_await Text(pool, "SELECT count(*)::text FROM bus_outbox");
}

KEEL_CORO_TEST(TelegramLinks, StoredOnlyAsAHashAndUsableOnce) {
    auto rig = co_await StartRig("acct_links_once");
    const auto user = co_await NewUser(*rig.pool);
    const auto link = co_await rig.links->Issue(user);
    EXPECT_TRUE(link.has_value());
    if (!link) co_return;
    EXPECT_TRUE(LooksLikeLinkToken(link->token)) << link->token;
    EXPECT_EQ(co_await Text(*rig.pool, "SELECT token_hash FROM telegram_links"),
              auth::Sha256Hex(link->token));
    EXPECT_EQ(co_await Text(*rig.pool,
                            "SELECT count(*)::text FROM telegram_links WHERE "
                            "strpos(telegram_links::text, '" +
                                link->token + "') > 0"),
              "0");  // the token itself is nowhere in the row
    EXPECT_EQ(co_await Text(*rig.pool,
                            "SELECT (expires_at - created_at BETWEEN interval '599 s' AND "
                            "interval '601 s')::text FROM telegram_links"),
              "true");

    const auto linked = co_await rig.links->Claim(link->token, 4242, 10, rig.origin);
    EXPECT_EQ(linked.outcome, ClaimOutcome::kLinked);
    EXPECT_EQ(linked.user_id, user);
    EXPECT_EQ(co_await ChatOf(*rig.pool, user), "4242");
    EXPECT_EQ(co_await Events(*rig.pool), "1");  // account.profile_updated.v1 with the chat

    // The same update again (notifications did not get the answer): linked, nothing new.
    EXPECT_EQ((co_await rig.links->Claim(link->token, 4242, 10, rig.origin)).outcome,
              ClaimOutcome::kLinked);
    EXPECT_EQ(co_await Events(*rig.pool), "1");
    // Any other use: refused, the link stays.
    EXPECT_EQ((co_await rig.links->Claim(link->token, 4242, 11, rig.origin)).outcome,
              ClaimOutcome::kUsed);
    const auto stolen = co_await rig.links->Claim(link->token, 666, 12, rig.origin);
    EXPECT_EQ(stolen.outcome, ClaimOutcome::kUsed);
    EXPECT_EQ(stolen.user_id, "");
    EXPECT_EQ(co_await ChatOf(*rig.pool, user), "4242");
    EXPECT_EQ(co_await Events(*rig.pool), "1");
    co_await rig.bus->Stop();
}

KEEL_CORO_TEST(TelegramLinks, GuessedExpiredAndReplacedTokensLinkNothing) {
    auto rig = co_await StartRig("acct_links_refused");
    const auto user = co_await NewUser(*rig.pool);
    const auto first = co_await rig.links->Issue(user);
    const auto second = co_await rig.links->Issue(user);  // replaces the first
    EXPECT_TRUE(first && second);
    if (!first || !second) co_return;
    EXPECT_NE(first->token, second->token);
    EXPECT_EQ(co_await Text(*rig.pool, "SELECT count(*)::text FROM telegram_links"), "1");

    for (const std::string& guess :
         {auth::RandomToken(32), first->token, std::string("abc"), std::string(43, '=')}) {
        EXPECT_EQ((co_await rig.links->Claim(guess, 4242, 1, rig.origin)).outcome,
                  ClaimOutcome::kUnknown)
            << guess;
    }
    // Ten minutes later (moved in the database: expiry is database time).
    co_await rig.pool->Execute(
        "UPDATE telegram_links SET expires_at = clock_timestamp() - interval '1 second'");
    EXPECT_EQ((co_await rig.links->Claim(second->token, 4242, 2, rig.origin)).outcome,
              ClaimOutcome::kExpired);
    EXPECT_EQ(co_await ChatOf(*rig.pool, user), "null");
    EXPECT_EQ(co_await Events(*rig.pool), "0");

    // No profile, no link.
    EXPECT_FALSE((co_await rig.links->Issue(Uuid::V7().ToString())).has_value());
    EXPECT_FALSE((co_await rig.links->Issue("not-a-uuid")).has_value());
    co_await rig.bus->Stop();
}

// Two chats hand the same token over at once: exactly one is linked.
KEEL_CORO_TEST(TelegramLinks, OneTokenLinksOneChatUnderRaces) {
    auto rig = co_await StartRig("acct_links_race");
    const auto user = co_await NewUser(*rig.pool);
    const auto link = co_await rig.links->Issue(user);
    if (!link) co_return;
    auto linked = std::make_shared<std::atomic<int>>(0);
    std::vector<Task<void>> claims;
    for (std::int64_t chat = 1; chat <= 8; ++chat) {
        claims.push_back([](std::shared_ptr<TelegramLinkStore> links, std::string token,
                            std::int64_t chat, bus::Origin origin,
                            std::shared_ptr<std::atomic<int>> linked) -> Task<void> {
            auto result = co_await links->Claim(token, chat, chat, origin);
            if (result.outcome == ClaimOutcome::kLinked) ++*linked;
        }(rig.links, link->token, chat, rig.origin, linked));
    }
    co_await keel::testing::RunConcurrently(std::move(claims));
    EXPECT_EQ(linked->load(), 1);
    EXPECT_EQ(co_await Events(*rig.pool), "1");
    co_await rig.bus->Stop();
}

}  // namespace
}  // namespace keel::account
