// NATS with keel's users and permissions (deploy/nats/auth.conf, as the stack runs it): no
// anonymous connection, and a service publishes only its own domain's events.
#include <keel/bus/nats.hpp>

#include <boost/json/parse.hpp>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <keel/testing/servers.hpp>

namespace keel::bus {
namespace {
namespace json = boost::json;

constexpr const char* kUsers[] = {"AUTH",          "CATALOG",         "ACCOUNT",
                                  "ORDERS",        "PAYMENTS",        "FISCAL",
                                  "NOTIFICATIONS", "RECOMMENDATIONS", "OPERATOR"};

std::string Password(const std::string& user) { return "pw-" + user + "-test"; }

// deploy/nats/auth.conf; the server reads $NATS_<USER>_PASSWORD from its environment,
// inherited from this process while it starts.
std::string AuthConfig() {
    for (const char* user : kUsers)
        setenv(("NATS_" + std::string(user) + "_PASSWORD").c_str(), Password(user).c_str(), 1);
    std::ifstream in(std::string(KEEL_SOURCE_DIR) + "/deploy/nats/auth.conf");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

testing::NatsServer& Server() {
    static testing::NatsServer server(AuthConfig());
    // Then out of this process's environment: Connect's fallback (NATS_USER, or the operator's
    // NATS_OPERATOR_PASSWORD) must not log the anonymous connections of these tests in.
    static const bool cleared = [] {
        for (const char* user : kUsers)
            unsetenv(("NATS_" + std::string(user) + "_PASSWORD").c_str());
        unsetenv("NATS_USER");
        unsetenv("NATS_PASSWORD");
        return true;
    }();
    (void)cleared;
    return server;
}

std::shared_ptr<Nats> As(const std::string& user, const std::string& password) {
    Nats::Options options{{Server().Url()}, "auth-test", std::chrono::milliseconds(300)};
    options.user = user;
    options.password = password;
    return Nats::Connect(options);
}

std::int64_t Messages(Nats& nats, const std::string& stream) {
    auto info = json::parse(nats.ApiRequest("STREAM.INFO." + stream, "")).as_object();
    return info.at("state").at("messages").as_int64();
}

bool WaitForMessages(Nats& nats, const std::string& stream, std::int64_t n) {
    for (int i = 0; i < 100; ++i) {
        if (Messages(nats, stream) == n) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

TEST(NatsAuth, AnonymousAndWrongPasswordsAreRefused) {
    EXPECT_THROW(As("", ""), NatsError);
    EXPECT_THROW(As("orders", "wrong"), NatsError);
    EXPECT_THROW(As("orders", Password("PAYMENTS")), NatsError);
    EXPECT_NO_THROW(As("orders", Password("ORDERS")));
}

TEST(NatsAuth, AServicePublishesOnlyItsOwnDomain) {
    auto op = As("keel-bus", Password("OPERATOR"));
    for (const char* domain : {"ORDERS", "PAYMENTS"}) {
        StreamSpec spec;
        spec.name = domain;
        std::string subjects = domain;
        for (auto& c : subjects) c = static_cast<char>(std::tolower(c));
        spec.subjects = {subjects + ".>"};
        op->EnsureStream(spec);
        op->ApiRequest("STREAM.PURGE." + spec.name, "");
    }
    StreamSpec registry;
    registry.name = "REGISTRY";
    registry.subjects = {"keel.registry.>"};
    op->EnsureStream(registry);
    op->ApiRequest("STREAM.PURGE.REGISTRY", "");

    auto orders = As("orders", Password("ORDERS"));
    // what confirmed unpaid orders before: a forged payment event from another service
    orders->PublishNoWait("payments.payment_captured.v1", R"({"forged":true})");
    orders->PublishNoWait("keel.registry.payments", "{}");
    orders->PublishNoWait("keel.registry.orders", "{}");
    orders->Flush();
    // its own: through JetStream (stream create/update, publish and ack all pass)
    auto msg = NewMsg("orders.order_placed.v1", "{}");
    EXPECT_GT(orders->Publish(msg.get()), 0U);
    ASSERT_TRUE(WaitForMessages(*op, "ORDERS", 1));
    ASSERT_TRUE(WaitForMessages(*op, "REGISTRY", 1));
    EXPECT_EQ(Messages(*op, "PAYMENTS"), 0);

    // payments may publish its own events
    auto payments = As("payments", Password("PAYMENTS"));
    payments->PublishNoWait("payments.payment_captured.v1", "{}");
    payments->Flush();
    EXPECT_TRUE(WaitForMessages(*op, "PAYMENTS", 1));
}

}  // namespace
}  // namespace keel::bus
