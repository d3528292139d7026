#include <atomic>
#include <mutex>

#include <keel/redis/client.hpp>
#include <keel/redis/subscriber.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/servers.hpp>

namespace keel::redis {
namespace {

using namespace std::chrono_literals;

// What the handlers saw; they run on the subscriber's strand, the test elsewhere.
struct Seen {
    std::mutex mutex;
    std::vector<std::string> events;  // "subscribed", "lost", "<channel>:<payload>"
    std::atomic<int> subscribed{0};
    std::atomic<int> lost{0};

    void Add(std::string event) {
        std::lock_guard lock(mutex);
        events.push_back(std::move(event));
    }
    std::vector<std::string> Events() {
        std::lock_guard lock(mutex);
        return events;
    }
    bool Has(const std::string& event) {
        std::lock_guard lock(mutex);
        return std::find(events.begin(), events.end(), event) != events.end();
    }
};

SubscriberHandlers Record(const std::shared_ptr<Seen>& seen) {
    SubscriberHandlers h;
    h.on_subscribed = [seen] {
        seen->Add("subscribed");
        ++seen->subscribed;
    };
    h.on_lost = [seen] {
        seen->Add("lost");
        ++seen->lost;
    };
    h.on_message = [seen](const std::string& channel, const Reply& payload) {
        std::string text;
        if (payload.type == Reply::Type::kArray) {
            for (const auto& e : payload.elements) text += "[" + e.text + "]";
        } else if (payload.type == Reply::Type::kNil) {
            text = "nil";
        } else {
            text = payload.text;
        }
        seen->Add(channel + ":" + text);
    };
    return h;
}

SubscriberOptions Options(std::uint16_t port, std::string password = "") {
    SubscriberOptions options;
    options.connection.port = port;
    options.connection.password = std::move(password);
    options.connection.timeout = 500ms;
    options.ping_interval = 200ms;
    options.reconnect_min = 20ms;
    options.reconnect_max = 200ms;
    return options;
}

Task<bool> Eventually(std::function<bool()> condition) {
    auto poll = [condition]() -> Task<bool> { co_return condition(); };
    co_return co_await testing::WaitUntil(poll, std::chrono::seconds(10));
}

KEEL_CORO_TEST(RedisSubscriber, DeliversMessagesAfterConfirmingTheSubscription) {
    auto ex = co_await asio::this_coro::executor;
    const auto port = testing::RedisServer::Shared().Port();
    auto seen = std::make_shared<Seen>();
    auto options = Options(port);
    options.channels = {"news", "other"};
    auto subscriber = Subscriber::Start(ex, options, Record(seen));
    const std::function<bool()> until1 = [seen] { return seen->subscribed == 1; };
    EXPECT_TRUE(co_await Eventually(until1));
    EXPECT_TRUE(subscriber->Subscribed());

    ClientOptions client_options;
    client_options.port = port;
    auto client = Client::Create(ex, client_options);
    std::vector<std::string> publish{"PUBLISH", "news", "hello"};
    EXPECT_EQ((co_await client->Command(publish)).integer, 1);
    const std::function<bool()> until2 = [seen] { return seen->Has("news:hello"); };
    EXPECT_TRUE(co_await Eventually(until2));
    EXPECT_EQ(seen->Events().front(), "subscribed");

    // Idle for longer than the ping interval: the PINGs keep the connection, nothing is lost.
    co_await testing::Sleep(600ms);
    EXPECT_EQ(seen->lost, 0);
    EXPECT_EQ(seen->subscribed, 1);
    subscriber->Stop();
}

KEEL_CORO_TEST(RedisSubscriber, TrackingReportsEveryChangeUnderThePrefix) {
    auto ex = co_await asio::this_coro::executor;
    const auto port = testing::RedisServer::Shared().Port();
    auto seen = std::make_shared<Seen>();
    auto options = Options(port);
    options.tracking_prefixes = {"trk:"};
    auto subscriber = Subscriber::Start(ex, options, Record(seen));
    const std::function<bool()> until3 = [seen] { return seen->subscribed == 1; };
    EXPECT_TRUE(co_await Eventually(until3));

    ClientOptions client_options;
    client_options.port = port;
    auto client = Client::Create(ex, client_options);
    co_await client->Set("trk:a", "1", std::chrono::seconds(0));
    co_await client->Set("untracked:b", "1", std::chrono::seconds(0));
    co_await client->Del("trk:a");
    std::vector<std::string> flush{"FLUSHALL"};
    co_await client->Command(flush);
    const std::string channel(kInvalidateChannel);
    const std::function<bool()> until4 = [seen, channel] { return seen->Has(channel + ":nil"); };
    EXPECT_TRUE(co_await Eventually(until4));
    const std::vector<std::string> expected{"subscribed", channel + ":[trk:a]",
                                            channel + ":[trk:a]", channel + ":nil"};
    EXPECT_EQ(seen->Events(), expected);
    subscriber->Stop();
}

KEEL_CORO_TEST(RedisSubscriber, SaysLostAndResubscribesAfterARestart) {
    static testing::RedisServer server("subscriber-pw");
    auto ex = co_await asio::this_coro::executor;
    auto seen = std::make_shared<Seen>();
    auto options = Options(server.Port(), "subscriber-pw");
    options.channels = {"news"};
    options.tracking_prefixes = {"trk:"};
    auto subscriber = Subscriber::Start(ex, options, Record(seen));
    const std::function<bool()> until5 = [seen] { return seen->subscribed == 1; };
    EXPECT_TRUE(co_await Eventually(until5));

    server.Restart();
    const std::function<bool()> until6 = [seen] { return seen->subscribed == 2; };
    EXPECT_TRUE(co_await Eventually(until6));
    auto events = seen->Events();
    EXPECT_GE(seen->lost, 1);
    EXPECT_EQ(events.front(), "subscribed");
    EXPECT_EQ(events.back(), "subscribed");
    EXPECT_TRUE(events.size() >= 2 && events[1] == "lost");

    // Tracking is set up again on the new connection.
    ClientOptions client_options;
    client_options.port = server.Port();
    client_options.password = "subscriber-pw";
    auto client = Client::Create(ex, client_options);
    co_await client->Set("trk:x", "1", std::chrono::seconds(0));
    const std::string message = std::string(kInvalidateChannel) + ":[trk:x]";
    const std::function<bool()> until7 = [seen, message] { return seen->Has(message); };
    EXPECT_TRUE(co_await Eventually(until7));
    subscriber->Stop();
}

KEEL_CORO_TEST(RedisSubscriber, KeepsRetryingWhileTheServerIsAway) {
    auto ex = co_await asio::this_coro::executor;
    auto seen = std::make_shared<Seen>();
    auto options = Options(testing::FreePort());
    options.channels = {"news"};
    auto subscriber = Subscriber::Start(ex, options, Record(seen));
    const std::function<bool()> until8 = [seen] { return seen->lost >= 3; };
    EXPECT_TRUE(co_await Eventually(until8));
    EXPECT_EQ(seen->subscribed, 0);
    EXPECT_FALSE(subscriber->Subscribed());
    subscriber->Stop();
}

}  // namespace
}  // namespace keel::redis
