#include "user_store.hpp"

#include <algorithm>

#include <boost/json/object.hpp>

#include <keel/core/uuid.hpp>

namespace keel::auth_service {

std::optional<std::string> NormalizeEmail(std::string_view email) {
    if (email.size() < 3 || email.size() > 254) return std::nullopt;
    const auto at = email.find('@');
    if (at == 0 || at == std::string_view::npos || at != email.rfind('@')) return std::nullopt;
    const auto domain = email.substr(at + 1);
    if (domain.empty() || domain.find('.') == std::string_view::npos || domain.front() == '.' ||
        domain.back() == '.') {
        return std::nullopt;
    }
    std::string out;
    for (unsigned char c : email) {
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' || c == '\\')
            return std::nullopt;
        out.push_back(static_cast<char>(std::tolower(c)));
    }
    return out;
}

constexpr std::string_view kInsertUserSql = R"(
INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, $3, $4)
ON CONFLICT (email) DO NOTHING)";

Task<std::optional<std::string>> UserStore::Create(const std::string& email,
                                                   const std::string& password_hash,
                                                   const std::string& role,
                                                   const bus::Origin& origin) {
    std::string id = Uuid::V7().ToString();
    bool created = false;
    auto write = [&](pg::Connection& c) -> Task<void> {
        auto result = co_await c.Execute(kInsertUserSql, id, email, password_hash, role);
        created = result.Affected() > 0;
        if (!created) co_return;
        const boost::json::value event = boost::json::object{
            {"user_id", id}, {"email", email}, {"registered_at", bus::NowMicros() / 1000}};
        co_await bus_->Emit(c, "auth.user_registered.v1", event, origin);
    };
    co_await bus_->Transaction(write);
    if (!created) co_return std::nullopt;
    co_return id;
}

constexpr std::string_view kFindByEmailSql =
    "SELECT id, email, password_hash, role FROM users WHERE email = $1";

Task<std::optional<User>> UserStore::FindByEmail(const std::string& email) {
    auto rows = co_await pool_->Execute(kFindByEmailSql, email);
    if (rows.Rows() == 0) co_return std::nullopt;
    co_return User{std::string(rows.Text(0, 0)), std::string(rows.Text(0, 1)),
                   std::string(rows.Text(0, 2)), std::string(rows.Text(0, 3))};
}

constexpr std::string_view kAnyAdminSql =
    "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')";

Task<bool> UserStore::AnyAdmin() {
    auto rows = co_await pool_->Execute(kAnyAdminSql);
    co_return rows.Bool(0, 0);
}

}  // namespace keel::auth_service
