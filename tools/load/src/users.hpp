#pragma once
// The shoppers' accounts: made by setup (register, login, fund) or read from --users-file.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace keel::load {

struct User {
    std::string id;
    std::string email;
    std::string password;
    std::string token;  // access token
};

/// The `exp` claim of a JWT (seconds since the epoch), 0 when it cannot be read.
std::int64_t TokenExpiry(const std::string& jwt);

/// A JSON array of {"id","email","password","access_token"}. Throws std::runtime_error with
/// the file's name on an unreadable or malformed file.
std::vector<User> ReadUsersFile(const std::string& path);
void WriteUsersFile(const std::string& path, const std::vector<User>& users);

}  // namespace keel::load
