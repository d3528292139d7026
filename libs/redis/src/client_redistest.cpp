#include <keel/redis/client.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/servers.hpp>

namespace keel::redis {
namespace {

std::shared_ptr<Client> MakeClient(asio::any_io_executor ex, std::uint16_t port) {
    ClientOptions options;
    options.port = port;
    options.timeout = std::chrono::milliseconds(500);
    return Client::Create(std::move(ex), options);
}

KEEL_CORO_TEST(Redis, GetSetDelWithBinaryValues) {
    auto client =
        MakeClient(co_await asio::this_coro::executor, testing::RedisServer::Shared().Port());
    const std::string value("a\0b\r\n\"c", 7);
    co_await client->Set("k1", value, std::chrono::seconds(60));
    auto got = co_await client->Get("k1");
    EXPECT_EQ(got, value);
    EXPECT_EQ(co_await client->Del("k1"), 1);
    EXPECT_FALSE((co_await client->Get("k1")).has_value());
    std::vector<std::string> ttl_args{"TTL", "k1"};
    EXPECT_EQ((co_await client->Command(ttl_args)).integer, -2);
}

KEEL_CORO_TEST(Redis, ErrorRepliesThrowAndKeepTheConnection) {
    auto client =
        MakeClient(co_await asio::this_coro::executor, testing::RedisServer::Shared().Port());
    co_await client->Set("str", "x", std::chrono::seconds(0));
    bool threw = false;
    try {
        std::vector<std::string> args{"LPUSH", "str", "y"};
        co_await client->Command(args);
    } catch (const ReplyError& e) {
        threw = std::string(e.what()).starts_with("WRONGTYPE");
    }
    EXPECT_TRUE(threw);
    EXPECT_TRUE(co_await client->Ping());
}

KEEL_CORO_TEST(Redis, EvalRunsScriptsAndSurvivesScriptFlush) {
    auto client =
        MakeClient(co_await asio::this_coro::executor, testing::RedisServer::Shared().Port());
    const std::string script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
    // Named vectors: GCC 12 rejects braced lists as arguments inside co_await.
    const std::vector<std::string> keys{"counter"};
    const std::vector<std::string> five{"5"};
    const std::vector<std::string> two{"2"};
    EXPECT_EQ((co_await client->Eval(script, keys, five)).integer, 5);
    std::vector<std::string> flush{"SCRIPT", "FLUSH"};
    co_await client->Command(flush);
    EXPECT_EQ((co_await client->Eval(script, keys, two)).integer, 7);
}

KEEL_CORO_TEST(Redis, UnreachableServerIsUnavailable) {
    auto client = MakeClient(co_await asio::this_coro::executor, testing::FreePort());
    bool unavailable = false;
    try {
        co_await client->Get("x");
    } catch (const UnavailableError&) {
        unavailable = true;
    }
    EXPECT_TRUE(unavailable);
    EXPECT_FALSE(co_await client->Ping());
}

KEEL_CORO_TEST(Redis, RecoversAfterServerRestart) {
    auto& server = testing::RedisServer::Shared();
    auto client = MakeClient(co_await asio::this_coro::executor, server.Port());
    co_await client->Set("before", "1", std::chrono::seconds(0));
    server.Restart();
    int failures = 0;
    for (int i = 0; i < 4; ++i) {
        try {
            co_await client->Set("after", "2", std::chrono::seconds(0));
        } catch (const ConnectionError&) {
            ++failures;
        }
    }
    EXPECT_LE(failures, 1);
    EXPECT_EQ(co_await client->Get("after"), std::optional<std::string>("2"));
}

KEEL_CORO_TEST(Redis, PasswordIsSentAndRequired) {
    static testing::RedisServer server("s3cret-redis");
    auto ex = co_await asio::this_coro::executor;
    ClientOptions options;
    options.port = server.Port();
    options.timeout = std::chrono::milliseconds(500);
    options.password = "s3cret-redis";
    auto good = Client::Create(ex, options);
    co_await good->Set("k", "v", std::chrono::seconds(0));
    EXPECT_EQ(co_await good->Get("k"), std::optional<std::string>("v"));

    // no password: the server refuses the command itself
    options.password = "";
    auto anonymous = Client::Create(ex, options);
    std::string refused;
    try {
        co_await anonymous->Get("k");
    } catch (const ReplyError& e) {
        refused = e.what();
    }
    EXPECT_TRUE(refused.starts_with("NOAUTH")) << refused;
    EXPECT_FALSE(co_await anonymous->Ping());

    // a wrong password: unavailable (readiness fails), nothing runs unauthenticated
    options.password = "wrong";
    auto wrong = Client::Create(ex, options);
    bool unavailable = false;
    try {
        co_await wrong->Get("k");
    } catch (const ConnectionError&) {
        unavailable = true;
    }
    EXPECT_TRUE(unavailable);
    EXPECT_FALSE(co_await wrong->Ping());
}

}  // namespace
}  // namespace keel::redis
