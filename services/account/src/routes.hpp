#pragma once
#include <memory>

#include <keel/http/router.hpp>

#include "profile_store.hpp"

namespace keel::account {

/// What account's handlers use. Owned by main; outlives the server.
struct AccountContext {
    std::shared_ptr<ProfileStore> profiles;
    std::shared_ptr<bus::Bus> bus;
};

/// The caller's profile (read, update) and the admin lookups.
http::Router MakeRouter(std::shared_ptr<AccountContext> ctx);

}  // namespace keel::account
