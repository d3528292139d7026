// Wallets against a real PostgreSQL: top-ups made idempotent by their key.
#include <keel/core/uuid.hpp>
#include <keel/testing/concurrent.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "migrations.hpp"
#include "wallet_store.hpp"

namespace keel::payments {
namespace {

using TopUpOutcome = WalletStore::TopUpOutcome;

Task<std::int64_t> Count(pg::Pool& pool, std::string_view sql) {
    auto r = co_await pool.Execute(sql);
    co_return r.Int(0, 0);
}

std::string NewId() { return Uuid::V7().ToString(); }

KEEL_CORO_TEST(WalletStore, TopUpWithAnIdempotencyKeyCreditsOnce) {
    auto pool = co_await testing::MigratedPool("payments_idempotent", Migrations(), "payments");
    WalletStore wallets(pool, "USD");
    const auto user = NewId();
    const std::optional<std::string> key = "top-up-1";
    const auto first = co_await wallets.TopUpWallet(user, 500, key);
    EXPECT_EQ(first.outcome, TopUpOutcome::kCredited);
    co_await wallets.TopUpWallet(user, 50, std::nullopt);  // balance 550 now

    const auto again = co_await wallets.TopUpWallet(user, 500, key);
    EXPECT_EQ(again.outcome, TopUpOutcome::kReplayed);
    EXPECT_EQ(again.wallet.balance, 500);  // the first response, replayed
    EXPECT_EQ((co_await wallets.TopUpWallet(user, 501, key)).outcome, TopUpOutcome::kKeyReused);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 550);
    EXPECT_EQ(co_await Count(*pool, "SELECT count(*) FROM ledger_transactions"), 2);

    // Keys belong to their user.
    const auto other = NewId();
    EXPECT_EQ((co_await wallets.TopUpWallet(other, 70, key)).outcome, TopUpOutcome::kCredited);
    EXPECT_EQ((co_await wallets.Get(other)).balance, 70);

    // Ten concurrent retries of one new key: one credit.
    const std::optional<std::string> racing = "top-up-2";
    std::vector<WalletStore::TopUp> results(10);
    auto top_up = [&](std::size_t i) -> Task<void> {
        results[i] = co_await wallets.TopUpWallet(user, 1000, racing);
    };
    std::vector<Task<void>> tasks;
    tasks.reserve(results.size());
    for (std::size_t i = 0; i < results.size(); ++i) tasks.push_back(top_up(i));
    co_await testing::RunConcurrently(std::move(tasks));
    int credited = 0;
    for (const auto& r : results) {
        credited += r.outcome == TopUpOutcome::kCredited;
        EXPECT_EQ(r.wallet.balance, 1550);
    }
    EXPECT_EQ(credited, 1);
    EXPECT_EQ((co_await wallets.Get(user)).balance, 1550);
}

}  // namespace
}  // namespace keel::payments
