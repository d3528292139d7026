// The bot's link handling against real PostgreSQL (the poll lease) and the fake Bot API
// (several pollers of one bot, injected user messages); account is a stand-in function.
#include <boost/json/parse.hpp>

#include <keel/core/uuid.hpp>
#include <keel/http/client.hpp>
#include <keel/http/json_body.hpp>
#include <keel/telegram/testing/fake_server.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>

#include "link_commands.hpp"
#include "link_poller.hpp"
#include "migrations.hpp"

namespace keel::notifications {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

constexpr const char* kToken = "4321:user-bot";

Task<json::value> Control(http::Client& http, const telegram::testing::FakeServer& fake,
                          http::Verb verb, std::string path, std::string body = {}) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    const std::string url = fake.Base() + path;
    auto response = co_await http.Send(verb, url, std::move(headers), std::move(body), 5s);
    co_return json::parse(response.body());
}

Task<void> UserSays(http::Client& http, const telegram::testing::FakeServer& fake,
                    std::int64_t chat_id, std::string text, std::string chat_type = "private") {
    const json::value update = json::object{
        {"token", kToken}, {"chat_id", chat_id}, {"text", text}, {"chat_type", chat_type}};
    co_await Control(http, fake, http::Verb::post, "/_fake/updates", http::ToJson(update));
}

// The bot's answers in `chat`, joined by " | ".
Task<std::string> Answers(http::Client& http, const telegram::testing::FakeServer& fake,
                          std::int64_t chat) {
    auto messages = co_await Control(http, fake, http::Verb::get,
                                     "/_fake/messages?chat_id=" + std::to_string(chat));
    std::string out;
    for (const auto& m : messages.as_array()) {
        if (!out.empty()) out += " | ";
        out += m.at("text").as_string();
    }
    co_return out;
}

const std::string kLinked(kLinkedReply);
const std::string kRefused(kRefusedReply);
const std::string kHelp(kHelpReply);

Task<std::size_t> Unconfirmed(http::Client& http, const telegram::testing::FakeServer& fake) {
    co_return (co_await Control(http, fake, http::Verb::get, "/_fake/updates")).as_array().size();
}

// account as a function: the token "good___..." links once, "down" fails while `account_down`.
struct StandInAccount {
    std::shared_ptr<bool> down = std::make_shared<bool>(false);
    std::shared_ptr<std::vector<std::string>> seen = std::make_shared<std::vector<std::string>>();

    ClaimLink Claim() const {
        return [down = down, seen = seen](std::string token, std::int64_t chat,
                                          std::int64_t update) -> Task<LinkReply> {
            LinkReply reply;
            if (*down) {
                reply.error = "account unreachable";
                co_return reply;
            }
            seen->push_back(token + "@" + std::to_string(chat) + "#" + std::to_string(update));
            const bool first =
                token == "good_______________________________________" && seen->size() == 1;
            reply.kind = first ? LinkReply::Kind::kLinked : LinkReply::Kind::kRefused;
            reply.outcome = first ? "linked" : "used";
            co_return reply;
        };
    }
};

struct Rig {
    std::shared_ptr<pg::Pool> pool;
    std::shared_ptr<http::Client> http;
    std::shared_ptr<telegram::Client> telegram;
};

Task<Rig> MakeRig(const std::string& db, const std::string& base) {
    Rig rig;
    rig.pool = co_await testing::MigratedPool(db, Migrations(), "notifications");
    rig.http = std::make_shared<http::Client>(co_await asio::this_coro::executor);
    telegram::Settings settings;
    settings.api_base = base;
    settings.bot_token = kToken;
    settings.deadline = 2s;
    rig.telegram = std::make_shared<telegram::Client>(
        std::make_shared<resilience::Downstream>(rig.http, telegram::DownstreamOptions(settings)),
        rig.http, settings);
    co_return rig;
}

std::shared_ptr<LinkPoller> Poller(const Rig& rig, const std::string& holder, ClaimLink claim) {
    PollOptions options;
    options.long_poll = 1s;
    options.lease = 10s;
    options.deadline = 2s;
    options.pause = 0ms;
    auto lease = std::make_shared<PollLease>(rig.pool, "user-bot", holder, options.lease);
    return std::make_shared<LinkPoller>(lease, rig.telegram, std::move(claim), options);
}

KEEL_CORO_TEST(LinkPoller, OneInstancePollsAndEveryPrivateMessageIsAnswered) {
    telegram::testing::FakeServer fake({kToken});
    auto rig = co_await MakeRig("notif_link_poll", fake.Base());
    StandInAccount account;
    auto a = Poller(rig, "a", account.Claim());
    auto b = Poller(rig, "b", account.Claim());
    co_await UserSays(*rig.http, fake, 1, "/start good_______________________________________");
    co_await UserSays(
        *rig.http, fake, 2,
        "/start good_______________________________________");  // the same token from another chat
    co_await UserSays(*rig.http, fake, 3, "hello");
    co_await UserSays(*rig.http, fake, -100, "/start good_______________________________________",
                      "supergroup");
    co_await a->Tick();
    co_await b->Tick();  // a holds the lease: b does not poll (it would get 409 at Telegram)
    EXPECT_EQ(b->OffsetForTest(), 0);
    EXPECT_EQ(a->OffsetForTest(), 5);  // all four handled and confirmed
    EXPECT_EQ(co_await Unconfirmed(*rig.http, fake), 0u);
    const std::vector<std::string> claims = {"good_______________________________________@1#1",
                                             "good_______________________________________@2#2"};
    EXPECT_EQ(*account.seen, claims);
    EXPECT_EQ(co_await Answers(*rig.http, fake, 1), kLinked);
    EXPECT_EQ(co_await Answers(*rig.http, fake, 2), kRefused);
    EXPECT_EQ(co_await Answers(*rig.http, fake, 3), kHelp);
    EXPECT_EQ(co_await Answers(*rig.http, fake, -100), "");

    // a stops: b takes over at once, from what Telegram has not had confirmed.
    co_await a->Stop();
    co_await UserSays(*rig.http, fake, 4, "/start later______________________________________");
    co_await b->Tick();
    EXPECT_EQ(b->OffsetForTest(), 6);
    EXPECT_EQ(co_await Answers(*rig.http, fake, 4), kRefused);
    co_await a->Tick();  // stopped: does nothing
    EXPECT_EQ(a->OffsetForTest(), 5);
}

// account down: no answer, the update stays with Telegram and is handled once account is back.
KEEL_CORO_TEST(LinkPoller, AnUpdateWaitsForAccount) {
    telegram::testing::FakeServer fake({kToken});
    auto rig = co_await MakeRig("notif_link_wait", fake.Base());
    StandInAccount account;
    *account.down = true;
    auto poller = Poller(rig, "a", account.Claim());
    co_await UserSays(*rig.http, fake, 7, "/start good_______________________________________");
    co_await poller->Tick();
    EXPECT_EQ(poller->OffsetForTest(), 0);
    EXPECT_EQ(co_await Unconfirmed(*rig.http, fake), 1u);
    EXPECT_EQ(co_await Answers(*rig.http, fake, 7), "");
    *account.down = false;
    co_await poller->Tick();
    EXPECT_EQ(co_await Answers(*rig.http, fake, 7), kLinked);
    EXPECT_EQ(co_await Unconfirmed(*rig.http, fake), 0u);
}

KEEL_CORO_TEST(PollLease, ExclusiveUntilReleasedOrExpired) {
    auto pool = co_await testing::MigratedPool("notif_poll_lease", Migrations(), "notifications");
    PollLease a(pool, "bot", "a", 30s), b(pool, "bot", "b", 30s), other(pool, "ops", "b", 30s);
    EXPECT_TRUE(co_await a.Renew());
    EXPECT_TRUE(a.HoldsFor(20s));
    EXPECT_FALSE(a.HoldsFor(31s));
    EXPECT_FALSE(co_await b.Renew());
    EXPECT_FALSE(b.HoldsFor(0ms));
    EXPECT_TRUE(co_await other.Renew());  // another name, another lease
    EXPECT_TRUE(co_await a.Renew());      // renewing is keeping
    co_await a.Release();
    EXPECT_FALSE(a.HoldsFor(0ms));
    EXPECT_TRUE(co_await b.Renew());
    // b dies without releasing: once its lease has run out (moved in the database), a takes it.
    EXPECT_FALSE(co_await a.Renew());
    co_await pool->Execute(
        "UPDATE telegram_poll_lease SET expires_at = clock_timestamp() - interval '1 ms' "
        "WHERE name = 'bot'");
    EXPECT_TRUE(co_await a.Renew());
    EXPECT_FALSE(co_await b.Renew());
}

}  // namespace
}  // namespace keel::notifications
