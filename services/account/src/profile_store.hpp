#pragma once
#include <memory>
#include <optional>
#include <string>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

#include "profile.hpp"

namespace keel::account {

inline constexpr const char* kProfileUpdated = "account.profile_updated.v1";
inline constexpr const char* kUserRegistered = "auth.user_registered.v1";

/// Profiles in account's database. Every change of a profile and its
/// account.profile_updated.v1 event are written in one transaction. Thread-safe.
class ProfileStore final {
public:
    ProfileStore(std::shared_ptr<pg::Pool> pool, std::shared_ptr<bus::Bus> bus)
        : pool_(std::move(pool)), bus_(std::move(bus)) {}

    /// nullopt when the user has no profile (yet) or `user_id` is not a UUID.
    Task<std::optional<Profile>> Get(const std::string& user_id);
    /// By email, compared lower-case (auth stores emails lower-case).
    Task<std::optional<Profile>> FindByEmail(const std::string& email);
    /// Applies `patch` (which must not be empty) and emits the profile; nullopt when
    /// the user has no profile.
    Task<std::optional<Profile>> Update(const std::string& user_id, const ProfilePatch& patch,
                                        const bus::Origin& origin);
    /// Update inside the caller's transaction (`connection` from bus::Bus::Transaction), so that
    /// the change commits together with the caller's own writes.
    Task<std::optional<Profile>> UpdateIn(pg::Connection& connection, std::string user_id,
                                          ProfilePatch patch, bus::Origin origin);

    /// The auth.user_registered.v1 handler, inside the consumer's transaction: creates
    /// the profile if it does not exist and emits it. A registration seen again changes
    /// nothing. Throws (so the bus retries, then dead-letters) when the row is refused,
    /// e.g. an email longer than the profiles table accepts.
    Task<void> CreateFromRegistration(pg::Connection& connection, const bus::Event& event);

private:
    std::shared_ptr<pg::Pool> pool_;
    std::shared_ptr<bus::Bus> bus_;
};

}  // namespace keel::account
