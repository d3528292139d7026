#include "profile_store.hpp"

#include <algorithm>

#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>

namespace keel::account {
namespace {

// The columns every statement below returns, in this order: user_id, email,
// display_name, telegram_chat_id, updated_at in Unix milliseconds.
Profile RowToProfile(const pg::Result& r, int row) {
    Profile p{std::string(r.Text(row, 0)), std::string(r.Text(row, 1)), std::string(r.Text(row, 2)),
              std::nullopt, r.Int(row, 4)};
    if (!r.IsNull(row, 3)) p.telegram_chat_id = r.Int(row, 3);
    return p;
}

std::string Lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

}  // namespace

constexpr std::string_view kGetSql = R"(
SELECT user_id, email, display_name, telegram_chat_id,
       (extract(epoch FROM updated_at) * 1000)::bigint
FROM profiles WHERE user_id = $1::uuid)";

Task<std::optional<Profile>> ProfileStore::Get(const std::string& user_id) {
    if (!Uuid::Parse(user_id)) co_return std::nullopt;
    auto rows = co_await pool_->Execute(kGetSql, user_id);
    if (rows.Rows() == 0) co_return std::nullopt;
    co_return RowToProfile(rows, 0);
}

constexpr std::string_view kFindByEmailSql = R"(
SELECT user_id, email, display_name, telegram_chat_id,
       (extract(epoch FROM updated_at) * 1000)::bigint
FROM profiles WHERE email = $1 ORDER BY created_at LIMIT 1)";

Task<std::optional<Profile>> ProfileStore::FindByEmail(const std::string& email) {
    auto rows = co_await pool_->Execute(kFindByEmailSql, Lower(email));
    if (rows.Rows() == 0) co_return std::nullopt;
    co_return RowToProfile(rows, 0);
}

// updated_at grows by at least a millisecond per change, and is taken after the row
// lock: a later change of a row always carries a later updated_at in its event.
constexpr std::string_view kUpdateSql = R"(
UPDATE profiles SET
    display_name = CASE WHEN $2::boolean THEN $3::text ELSE display_name END,
    telegram_chat_id = CASE WHEN $4::boolean THEN $5::bigint ELSE telegram_chat_id END,
    updated_at = greatest(date_trunc('milliseconds', clock_timestamp()),
                          updated_at + interval '1 millisecond')
WHERE user_id = $1::uuid
RETURNING user_id, email, display_name, telegram_chat_id,
          (extract(epoch FROM updated_at) * 1000)::bigint)";

Task<std::optional<Profile>> ProfileStore::Update(const std::string& user_id,
                                                  const ProfilePatch& patch,
                                                  const bus::Origin& origin) {
    if (!Uuid::Parse(user_id)) co_return std::nullopt;
    std::optional<Profile> updated;
    auto write = [&](pg::Connection& c) -> Task<void> {
        updated = co_await UpdateIn(c, user_id, patch, origin);
    };
    co_await bus_->Transaction(write);
    co_return updated;
}

Task<std::optional<Profile>> ProfileStore::UpdateIn(pg::Connection& c, std::string user_id,
                                                    ProfilePatch patch, bus::Origin origin) {
    if (!Uuid::Parse(user_id)) co_return std::nullopt;
    const pg::Param chat_id = patch.telegram_chat_id ? pg::P(*patch.telegram_chat_id) : pg::Null();
    const pg::Param name = patch.display_name ? pg::P(*patch.display_name) : pg::Null();
    auto rows = co_await c.Execute(kUpdateSql, user_id, patch.display_name.has_value(), name,
                                   patch.set_telegram_chat, chat_id);
    if (rows.Rows() == 0) co_return std::nullopt;
    Profile updated = RowToProfile(rows, 0);
    const boost::json::value event = ToEventPayload(updated);
    co_await bus_->Emit(c, kProfileUpdated, event, origin);
    co_return updated;
}

constexpr std::string_view kInsertSql = R"(
INSERT INTO profiles (user_id, email, display_name, updated_at)
VALUES ($1::uuid, $2, $3, date_trunc('milliseconds', clock_timestamp()))
ON CONFLICT (user_id) DO NOTHING
RETURNING user_id, email, display_name, telegram_chat_id,
          (extract(epoch FROM updated_at) * 1000)::bigint)";

Task<void> ProfileStore::CreateFromRegistration(pg::Connection& c, const bus::Event& event) {
    const auto& payload = event.payload.as_object();
    const std::string user_id(payload.at("user_id").as_string());
    const std::string email(payload.at("email").as_string());
    auto rows = co_await c.Execute(kInsertSql, user_id, email, DefaultDisplayName(email));
    if (rows.Rows() == 0) {
        log::Info("profile exists already; registration ignored",
                  {{"user_id", user_id}, {"event_id", event.envelope.event_id}});
        co_return;
    }
    const boost::json::value profile = ToEventPayload(RowToProfile(rows, 0));
    co_await bus_->Emit(c, kProfileUpdated, profile, event.next);
}

}  // namespace keel::account
