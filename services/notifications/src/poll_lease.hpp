#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <keel/pg/pool.hpp>

namespace keel::notifications {

/// A lease on one named job among the instances of a service (table telegram_poll_lease):
/// Renew() takes it when free or expired and extends it when held; expiry is database time,
/// so instances' clocks do not matter. HoldsFor() answers from this instance's monotonic
/// clock: the time Renew *sent* its statement plus the length, a bound the database can only
/// exceed. An instance cut off from PostgreSQL therefore stops before another can take over.
/// Renew, Release: one caller at a time; HoldsFor: any thread.
class PollLease final {
public:
    PollLease(std::shared_ptr<pg::Pool> pool, std::string name, std::string holder,
              std::chrono::milliseconds length)
        : pool_(std::move(pool)),
          name_(std::move(name)),
          holder_(std::move(holder)),
          length_(length) {}

    /// Takes or extends the lease; true when this instance holds it afterwards. On a database
    /// error, whether what was held before still surely holds (it runs out by itself).
    Task<bool> Renew();
    /// True while the lease surely holds for `margin` more.
    bool HoldsFor(std::chrono::milliseconds margin) const;
    /// Gives it up at once (at shutdown), so that another instance takes over without
    /// waiting for the expiry. Never throws.
    Task<void> Release();

    const std::string& Holder() const { return holder_; }

private:
    std::shared_ptr<pg::Pool> pool_;
    std::string name_;
    std::string holder_;
    std::chrono::milliseconds length_;
    std::atomic<std::int64_t> held_until_ns_{0};  // steady clock
};

}  // namespace keel::notifications
