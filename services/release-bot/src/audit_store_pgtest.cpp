// AuditStore against a real PostgreSQL (a fresh database on the shared test server).
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "audit_store.hpp"
#include "migrations.hpp"

namespace keel::release_bot {
namespace {

AuditRequest Asked(std::string command, std::string service) {
    AuditRequest r;
    r.chat_id = -100123;
    r.user_id = 42;
    r.username = "ops_ann";
    r.command = std::move(command);
    r.service = std::move(service);
    return r;
}

KEEL_CORO_TEST(AuditStore, RecordsAReleaseFromStartToEnd) {
    auto pool = co_await testing::MigratedPool("release_bot_audit", Migrations(), "release-bot");
    AuditStore store(pool);
    const auto id = co_await store.Begin(Asked("release", "catalog"));
    EXPECT_TRUE(id.has_value());
    if (!id) co_return;
    auto rows = co_await store.Recent(10);
    EXPECT_EQ(rows.size(), 1u);
    if (rows.empty()) co_return;
    EXPECT_EQ(rows[0].outcome, "running");
    EXPECT_TRUE(rows[0].finished_at.empty());

    co_await store.Finish(*id, "released", "aaa111", "bbb222", "2 replicas");
    rows = co_await store.Recent(10);
    EXPECT_EQ(rows.size(), 1u);
    if (rows.empty()) co_return;
    const auto& e = rows[0];
    EXPECT_EQ(e.id, *id);
    EXPECT_EQ(e.request.chat_id, -100123);
    EXPECT_EQ(e.request.user_id, std::optional<std::int64_t>(42));
    EXPECT_EQ(e.request.username, "ops_ann");
    EXPECT_EQ(e.request.command, "release");
    EXPECT_EQ(e.request.service, "catalog");
    EXPECT_EQ(e.from_version, "aaa111");
    EXPECT_EQ(e.to_version, "bbb222");
    EXPECT_EQ(e.outcome, "released");
    EXPECT_EQ(e.detail, "2 replicas");
    EXPECT_EQ(e.started_at.size(), 20u);  // 2026-11-30T12:00:00Z
    EXPECT_EQ(e.finished_at.size(), 20u);
}

KEEL_CORO_TEST(AuditStore, OneRunningReleasePerService) {
    auto pool =
        co_await testing::MigratedPool("release_bot_concurrent", Migrations(), "release-bot");
    AuditStore store(pool);
    const auto first = co_await store.Begin(Asked("release", "catalog"));
    EXPECT_TRUE(first.has_value());
    EXPECT_FALSE((co_await store.Begin(Asked("rollback", "catalog"))).has_value());
    EXPECT_TRUE((co_await store.Begin(Asked("release", "orders"))).has_value());
    if (!first) co_return;
    co_await store.Finish(*first, "rolled_back", "a", "b", "not ready");
    EXPECT_TRUE((co_await store.Begin(Asked("release", "catalog"))).has_value());
}

KEEL_CORO_TEST(AuditStore, RecordsRefusalsAndListsNewestFirst) {
    auto pool = co_await testing::MigratedPool("release_bot_recent", Migrations(), "release-bot");
    AuditStore store(pool);
    auto stranger = Asked("release", "catalog");
    stranger.chat_id = 777;
    stranger.user_id.reset();
    co_await store.Record(stranger, "refused", "chat not allowed");
    const auto id = co_await store.Begin(Asked("rollback", "orders"));
    EXPECT_TRUE(id.has_value());
    const auto rows = co_await store.Recent(1);
    EXPECT_EQ(rows.size(), 1u);
    if (rows.empty()) co_return;
    EXPECT_EQ(rows[0].request.service, "orders");
    const auto all = co_await store.Recent(10);
    EXPECT_EQ(all.size(), 2u);
    if (all.size() != 2) co_return;
    EXPECT_EQ(all[1].outcome, "refused");
    EXPECT_EQ(all[1].request.chat_id, 777);
    EXPECT_FALSE(all[1].request.user_id.has_value());
    EXPECT_FALSE(all[1].finished_at.empty());
}

KEEL_CORO_TEST(AuditStore, InterruptsWhatARemovedLeaderLeftRunning) {
    auto pool =
        co_await testing::MigratedPool("release_bot_interrupt", Migrations(), "release-bot");
    AuditStore store(pool);
    EXPECT_TRUE((co_await store.Begin(Asked("release", "catalog"))).has_value());
    const auto first = co_await store.InterruptRunning();
    const auto second = co_await store.InterruptRunning();
    EXPECT_EQ(first, 1);
    EXPECT_EQ(second, 0);
    const auto rows = co_await store.Recent(10);
    EXPECT_EQ(rows.size(), 1u);
    if (rows.empty()) co_return;
    EXPECT_EQ(rows[0].outcome, "interrupted");
    EXPECT_TRUE((co_await store.Begin(Asked("release", "catalog"))).has_value());
}

}  // namespace
}  // namespace keel::release_bot
