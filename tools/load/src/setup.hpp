#pragma once
// Before measuring: the products to ask for and the users to shop with (registered, logged in
// and funded, in parallel), timed separately from the run.
#include <cstdint>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "http_connection.hpp"
#include "options.hpp"
#include "users.hpp"

namespace keel::load {

struct SetupReport {
    std::uint32_t users = 0;      // ready to shop
    std::uint32_t failed = 0;     // gave up on
    std::uint32_t logged_in = 0;  // users of --users-file whose token was renewed
    std::uint64_t retries = 0;    // 429/503/network answers retried
    double seconds = 0;
    std::string first_error;
    Histogram register_ms, login_ms, fund_ms;  // in microseconds despite the name: see report
};

/// Up to 100 product ids from the catalog's first page (GET /api/catalog/products?limit=100).
/// Throws std::runtime_error when the catalog does not answer 200 or is empty.
std::vector<std::string> DiscoverProducts(const Target& gateway, double timeout_s);

/// Makes options.setup_users new users (register, login, operator top-up of fund_amount when
/// a service token and internal URL are given) and renews the tokens of `users` that expire
/// before `valid_until_epoch_s`. Appends new users to `users`; drops users it gave up on.
SetupReport SetupUsers(const Options& options, const Target& gateway, const Target* internal,
                       std::vector<User>& users, std::int64_t valid_until_epoch_s);

}  // namespace keel::load
