#include "poll_lease.hpp"

#include <keel/core/log.hpp>

namespace keel::notifications {
namespace {

std::int64_t SteadyNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace

// No row back: another instance holds an unexpired lease.
constexpr std::string_view kRenewSql = R"(
INSERT INTO telegram_poll_lease AS l (name, holder, expires_at)
VALUES ($1, $2, clock_timestamp() + $3::bigint * interval '1 millisecond')
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
WHERE l.holder = EXCLUDED.holder OR l.expires_at < clock_timestamp()
RETURNING holder)";

Task<bool> PollLease::Renew() {
    const auto sent = SteadyNs();
    bool held = false;
    try {
        auto rows = co_await pool_->Execute(kRenewSql, name_, holder_,
                                            static_cast<std::int64_t>(length_.count()));
        held = rows.Rows() == 1;
    } catch (const std::exception& e) {
        log::Debug("poll lease not renewed", {{"lease", name_}, {"error", e.what()}});
        co_return HoldsFor(std::chrono::milliseconds(0));
    }
    held_until_ns_ = held ? sent + std::chrono::nanoseconds(length_).count() : 0;
    co_return held;
}

bool PollLease::HoldsFor(std::chrono::milliseconds margin) const {
    return SteadyNs() + std::chrono::nanoseconds(margin).count() < held_until_ns_.load();
}

constexpr std::string_view kReleaseSql = R"(
UPDATE telegram_poll_lease SET expires_at = clock_timestamp()
WHERE name = $1 AND holder = $2)";

Task<void> PollLease::Release() {
    held_until_ns_ = 0;
    try {
        co_await pool_->Execute(kReleaseSql, name_, holder_);
    } catch (const std::exception& e) {
        log::Warn("poll lease not released; it expires by itself",
                  {{"lease", name_}, {"error", e.what()}});
    }
}

}  // namespace keel::notifications
