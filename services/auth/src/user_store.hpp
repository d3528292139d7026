#pragma once
#include <memory>
#include <optional>
#include <string>

#include <keel/bus/bus.hpp>
#include <keel/pg/pool.hpp>

namespace keel::auth_service {

struct User {
    std::string id;
    std::string email;
    std::string password_hash;
    std::string role;
};

/// Identities in auth's database.
class UserStore final {
public:
    UserStore(std::shared_ptr<pg::Pool> pool, std::shared_ptr<bus::Bus> bus)
        : pool_(std::move(pool)), bus_(std::move(bus)) {}

    /// The new user's id, or nullopt when the email is taken. The user and its
    /// auth.user_registered.v1 event are written in one transaction.
    Task<std::optional<std::string>> Create(const std::string& email,
                                            const std::string& password_hash,
                                            const std::string& role, const bus::Origin& origin);
    Task<std::optional<User>> FindByEmail(const std::string& email);
    Task<bool> AnyAdmin();

private:
    std::shared_ptr<pg::Pool> pool_;
    std::shared_ptr<bus::Bus> bus_;
};

/// Lower-cases and checks an email address; nullopt when it is not one.
std::optional<std::string> NormalizeEmail(std::string_view email);

}  // namespace keel::auth_service
