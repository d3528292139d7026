// account's profile store, consumer and routes against real PostgreSQL and nats-server.
#include <mutex>
#include <vector>

#include <boost/json/parse.hpp>

#include <keel/bus/nats.hpp>
#include <keel/core/uuid.hpp>
#include <keel/telemetry/metrics.hpp>
#include <keel/testing/bus.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/routes.hpp>
#include <keel/testing/servers.hpp>

#include "migrations.hpp"
#include "profile_store.hpp"
#include "routes.hpp"

namespace keel::account {
namespace {

namespace json = boost::json;
using testing::NatsServer;

void PurgeStreams() {
    auto nats =
        bus::Nats::Connect({{NatsServer::Shared().Url()}, "test", std::chrono::milliseconds(5000)});
    for (const char* stream : {"AUTH", "ACCOUNT", "DLQ"})
        nats->ApiRequest(std::string("STREAM.PURGE.") + stream, "");
}

Task<std::int64_t> Count(pg::Pool& pool, const std::string& sql) {
    auto r = co_await pool.Execute(sql);
    co_return r.Int(0, 0);
}

// account as main wires it, on a fresh database, under its own consumer names.
struct Account {
    std::shared_ptr<pg::Pool> pool;
    std::shared_ptr<bus::Bus> bus;
    std::shared_ptr<ProfileStore> store;
};

Task<Account> StartAccount(const std::string& name, bus::SubscribeOptions options = {}) {
    Account a;
    a.pool = co_await testing::MigratedPool(name, Migrations(), "account");
    a.bus = bus::Bus::Create(co_await asio::this_coro::executor, a.pool,
                             keel::testing::TestBusSettings(name));
    a.store = std::make_shared<ProfileStore>(a.pool, a.bus);
    a.bus->Publishes(kProfileUpdated);
    bus::EventHandler handler = [store = a.store](pg::Connection& c, const bus::Event& e) {
        return store->CreateFromRegistration(c, e);
    };
    a.bus->Subscribe(kUserRegistered, handler, options);
    co_await a.bus->Start();
    co_return a;
}

// A stand-in for auth: publishes registrations from its own database.
Task<std::shared_ptr<bus::Bus>> StartAuth(const std::string& name) {
    auto pool = co_await testing::FreshPool(name);
    auto auth = bus::Bus::Create(co_await asio::this_coro::executor, pool,
                                 keel::testing::TestBusSettings(name));
    auth->Publishes(kUserRegistered);
    co_await auth->Start();
    co_return auth;
}

json::value Registration(const std::string& user_id, const std::string& email) {
    return json::object{
        {"user_id", user_id}, {"email", email}, {"registered_at", 1'700'000'000'000}};
}

Task<void> Register(bus::Bus& auth, const std::string& user_id, const std::string& email) {
    const auto origin = auth.FromRequest("", "", "test registration");
    const json::value payload = Registration(user_id, email);
    auto body = [&](pg::Connection& c) -> Task<void> {
        co_await auth.Emit(c, kUserRegistered, payload, origin);
    };
    co_await auth.Transaction(body);
}

// Collects what account publishes, as notifications would receive it.
struct Observer {
    std::shared_ptr<bus::Bus> bus;
    std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
    std::shared_ptr<std::vector<json::object>> events =
        std::make_shared<std::vector<json::object>>();

    std::vector<json::object> For(const std::string& user_id) const {
        std::lock_guard lock(*mutex);
        std::vector<json::object> out;
        for (const auto& e : *events)
            if (e.at("user_id").as_string() == user_id) out.push_back(e);
        return out;
    }
};

Task<Observer> StartObserver(const std::string& name) {
    Observer o;
    auto pool = co_await testing::FreshPool(name);
    o.bus = bus::Bus::Create(co_await asio::this_coro::executor, pool,
                             keel::testing::TestBusSettings(name));
    bus::PlainHandler collect =
        [mutex = o.mutex, events = o.events](std::span<const bus::Event> batch) -> Task<void> {
        std::lock_guard lock(*mutex);
        for (const auto& e : batch) events->push_back(e.payload.as_object());
        co_return;
    };
    o.bus->SubscribePlain(kProfileUpdated, collect);
    co_await o.bus->Start();
    co_return o;
}

KEEL_CORO_TEST(Account, ARegistrationMakesOneProfileAndOneEventEvenWhenSeenTwice) {
    PurgeStreams();
    auto auth = co_await StartAuth("acct_once_auth");
    auto account = co_await StartAccount("acct_once");
    auto observer = co_await StartObserver("acct_once_watch");
    const auto user = Uuid::V7().ToString();
    co_await Register(*auth, user, "ann.lee@example.com");
    auto created = [&]() -> Task<bool> {
        co_return (co_await account.store->Get(user)).has_value();
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(created));
    // auth replays the registration under a new event id: the inbox cannot tell, the
    // handler must.
    co_await Register(*auth, user, "other@example.com");
    auto both_handled = [&]() -> Task<bool> {
        co_return co_await Count(*account.pool, "SELECT count(*) FROM bus_inbox") == 2;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(both_handled));

    auto profile = co_await account.store->Get(user);
    EXPECT_TRUE(profile.has_value());
    if (!profile) co_return;
    EXPECT_EQ(profile->email, "ann.lee@example.com");
    EXPECT_EQ(profile->display_name, "ann.lee");
    EXPECT_FALSE(profile->telegram_chat_id.has_value());
    EXPECT_EQ(co_await Count(*account.pool, "SELECT count(*) FROM profiles"), 1);
    EXPECT_EQ(co_await Count(*account.pool, "SELECT count(*) FROM bus_outbox"), 1);

    auto published = [&]() -> Task<bool> { co_return !observer.For(user).empty(); };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(published));
    co_await keel::testing::Sleep(std::chrono::milliseconds(300));
    const auto events = observer.For(user);
    EXPECT_EQ(events.size(), 1u);
    if (!events.empty()) {
        EXPECT_EQ(events[0].at("email").as_string(), "ann.lee@example.com");
        EXPECT_EQ(events[0].at("display_name").as_string(), "ann.lee");
        EXPECT_TRUE(events[0].at("telegram_chat_id").is_null());
        EXPECT_EQ(events[0].at("updated_at").as_int64(), profile->updated_at_ms);
    }
    co_await observer.bus->Stop();
    co_await account.bus->Stop();
    co_await auth->Stop();
}

KEEL_CORO_TEST(Account, APoisonedRegistrationIsDeadLetteredAndTheOthersFlow) {
    PurgeStreams();
    auto auth = co_await StartAuth("acct_poison_auth");
    bus::SubscribeOptions options;
    options.max_deliver = 2;
    options.backoff_base = std::chrono::milliseconds(20);
    auto account = co_await StartAccount("acct_poison", options);
    const auto poisoned = Uuid::V7().ToString();
    const auto fine = Uuid::V7().ToString();
    co_await Register(*auth, poisoned, std::string(300, 'a') + "@example.com");
    co_await Register(*auth, fine, "bob@example.com");
    auto created = [&]() -> Task<bool> {
        co_return (co_await account.store->Get(fine)).has_value();
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(created));
    auto& dead = telemetry::DefaultRegistry().GetCounter(
        "keel_bus_consumed_total", "",
        {{"consumer", "acct_poison-auth_user_registered_v1"}, {"outcome", "dead_lettered"}});
    auto dead_lettered = [&]() -> Task<bool> { co_return dead.Value() == 1; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(dead_lettered));
    EXPECT_FALSE((co_await account.store->Get(poisoned)).has_value());
    EXPECT_EQ(co_await Count(*account.pool, "SELECT count(*) FROM bus_outbox"), 1);
    co_await account.bus->Stop();
    co_await auth->Stop();
}

Task<void> CreateProfile(Account& account, const std::string& user_id, const std::string& email) {
    bus::Event event;
    event.envelope.event_id = Uuid::V7().ToString();
    event.payload = Registration(user_id, email);
    event.next = account.bus->FromRequest("", "", "test");
    auto body = [&](pg::Connection& c) -> Task<void> {
        co_await account.store->CreateFromRegistration(c, event);
    };
    co_await account.pool->Transaction(body);
}

KEEL_CORO_TEST(Account, PatchChangesTheProfileAndPublishesEachChangeInOrder) {
    PurgeStreams();
    auto account = co_await StartAccount("acct_patch");
    auto observer = co_await StartObserver("acct_patch_watch");
    auto ctx = std::make_shared<AccountContext>();
    ctx->profiles = account.store;
    ctx->bus = account.bus;
    ctx->links = std::make_shared<TelegramLinkStore>(account.pool, account.bus, account.store,
                                                     std::chrono::seconds(600));
    const auto router = MakeRouter(ctx);
    const auto user = Uuid::V7().ToString();
    const http::Principal ann{user, "user"};
    const http::Principal notifications{"service", "service"};
    using http::Status;
    using http::Verb;

    auto early = co_await testing::CallRoute(router, Verb::get, "/api/account/me", "", ann);
    EXPECT_EQ(early.status, Status::not_found);
    EXPECT_NE(early.body.find("profile not created yet"), std::string::npos);
    EXPECT_EQ((co_await testing::CallRoute(router, Verb::patch, "/api/account/me",
                                           R"({"display_name":"A"})", ann))
                  .status,
              Status::not_found);

    EXPECT_EQ(
        (co_await testing::CallRoute(router, Verb::post, "/api/account/me/telegram-link", "", ann))
            .status,
        Status::not_found);

    co_await CreateProfile(account, user, "ann@example.com");
    // A chat id from the client is refused, with how to link instead.
    auto direct = co_await testing::CallRoute(
        router, Verb::patch, "/api/account/me",
        R"({"display_name":"Ann","telegram_chat_id":-1001234567890})", ann);
    EXPECT_EQ(direct.status, Status::bad_request);
    EXPECT_NE(direct.body.find("/api/account/me/telegram-link"), std::string::npos) << direct.body;
    // Linking: a one-time link for the user, handed back by the bot with the chat it came from.
    auto link =
        co_await testing::CallRoute(router, Verb::post, "/api/account/me/telegram-link", "", ann);
    EXPECT_EQ(link.status, Status::created) << link.body;
    const auto link_body = json::parse(link.body).as_object();
    const std::string token(link_body.at("token").as_string());
    EXPECT_EQ(link_body.at("deep_link").as_string(), "https://t.me/keel_fake_bot?start=" + token);
    EXPECT_TRUE(link_body.at("expires_at").is_string());
    const std::string claim = R"({"token":")" + token + R"(","chat_id":4242,"update_id":1})";
    auto claimed = co_await testing::CallRoute(router, Verb::post, "/internal/telegram-links/claim",
                                               claim, notifications);
    EXPECT_EQ(claimed.status, Status::ok);
    EXPECT_EQ(json::parse(claimed.body),
              json::parse(R"({"outcome":"linked","user_id":")" + user + R"("})"));
    auto again = co_await testing::CallRoute(
        router, Verb::post, "/internal/telegram-links/claim",
        R"({"token":")" + token + R"(","chat_id":666,"update_id":2})", notifications);
    EXPECT_EQ(json::parse(again.body).at("outcome").as_string(), "used");
    auto linked = co_await testing::CallRoute(router, Verb::patch, "/api/account/me",
                                              R"({"display_name":"Ann"})", ann);
    EXPECT_EQ(linked.status, Status::ok);
    EXPECT_EQ(json::parse(linked.body),
              json::parse(
                  R"({"user_id":")" + user +
                  R"(","email":"ann@example.com","display_name":"Ann","telegram_chat_id":4242})"));
    // Invalid input changes nothing and publishes nothing.
    auto invalid = co_await testing::CallRoute(router, Verb::patch, "/api/account/me",
                                               R"({"display_name":""})", ann);
    EXPECT_EQ(invalid.status, Status::unprocessable_entity);
    auto unlinked = co_await testing::CallRoute(router, Verb::patch, "/api/account/me",
                                                R"({"telegram_chat_id":null})", ann);
    EXPECT_EQ(unlinked.status, Status::ok);
    EXPECT_TRUE(json::parse(unlinked.body).at("telegram_chat_id").is_null());
    EXPECT_EQ(json::parse(unlinked.body).at("display_name").as_string(), "Ann");
    auto noop = co_await testing::CallRoute(router, Verb::patch, "/api/account/me", "{}", ann);
    EXPECT_EQ(noop.status, Status::ok);
    EXPECT_EQ(co_await Count(*account.pool, "SELECT count(*) FROM bus_outbox"), 4);

    auto me = co_await testing::CallRoute(router, Verb::get, "/api/account/me", "", ann);
    EXPECT_EQ(me.status, Status::ok);
    EXPECT_EQ(json::parse(me.body).at("display_name").as_string(), "Ann");

    // The admin lookups.
    const http::Principal admin{Uuid::V7().ToString(), "admin"};
    auto by_id =
        co_await testing::CallRoute(router, Verb::get, "/api/account/users/" + user, "", admin);
    EXPECT_EQ(by_id.status, Status::ok);
    EXPECT_EQ(by_id.body, me.body);
    auto by_email = co_await testing::CallRoute(
        router, Verb::get, "/api/account/users?email=ANN%40example.com", "", admin);
    EXPECT_EQ(by_email.status, Status::ok);
    EXPECT_EQ(by_email.body, me.body);
    EXPECT_EQ((co_await testing::CallRoute(
                   router, Verb::get, "/api/account/users?email=nobody%40example.com", "", admin))
                  .status,
              Status::not_found);
    EXPECT_EQ(
        (co_await testing::CallRoute(router, Verb::get, "/api/account/users", "", admin)).status,
        Status::bad_request);
    EXPECT_EQ(
        (co_await testing::CallRoute(router, Verb::get, "/api/account/users/not-a-uuid", "", admin))
            .status,
        Status::bad_request);
    EXPECT_EQ((co_await testing::CallRoute(
                   router, Verb::get, "/api/account/users/" + Uuid::V7().ToString(), "", admin))
                  .status,
              Status::not_found);

    // notifications sees creation, link, rename, unlink: in order, with growing updated_at.
    auto all_published = [&]() -> Task<bool> { co_return observer.For(user).size() >= 4; };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(all_published));
    const auto events = observer.For(user);
    EXPECT_EQ(events.size(), 4u);
    if (events.size() == 4) {
        EXPECT_TRUE(events[0].at("telegram_chat_id").is_null());
        EXPECT_EQ(events[1].at("telegram_chat_id").as_int64(), 4242);
        EXPECT_EQ(events[2].at("telegram_chat_id").as_int64(), 4242);
        EXPECT_EQ(events[2].at("display_name").as_string(), "Ann");
        EXPECT_TRUE(events[3].at("telegram_chat_id").is_null());
        for (std::size_t i = 1; i < events.size(); ++i)
            EXPECT_LT(events[i - 1].at("updated_at").as_int64(),
                      events[i].at("updated_at").as_int64());
    }
    co_await observer.bus->Stop();
    co_await account.bus->Stop();
}

KEEL_CORO_TEST(Account, ChangesInQuickSuccessionGetGrowingTimes) {
    PurgeStreams();
    auto account = co_await StartAccount("acct_race");
    const auto user = Uuid::V7().ToString();
    co_await CreateProfile(account, user, "cy@example.com");
    const auto origin = account.bus->FromRequest("", "", "test");
    ProfilePatch patch;
    patch.set_telegram_chat = true;
    // Twenty updates within a few milliseconds: each event still orders after the previous.
    std::vector<std::int64_t> times;
    for (int i = 1; i <= 20; ++i) {
        patch.telegram_chat_id = i;
        auto updated = co_await account.store->Update(user, patch, origin);
        EXPECT_TRUE(updated.has_value());
        if (updated) times.push_back(updated->updated_at_ms);
    }
    for (std::size_t i = 1; i < times.size(); ++i) EXPECT_LT(times[i - 1], times[i]);
    EXPECT_FALSE(
        (co_await account.store->Update(Uuid::V7().ToString(), patch, origin)).has_value());
    EXPECT_EQ(co_await Count(*account.pool, "SELECT count(*) FROM bus_outbox"), 21);
    co_await account.bus->Stop();
}

}  // namespace
}  // namespace keel::account
