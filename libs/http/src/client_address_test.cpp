#include <keel/http/client_address.hpp>

#include <gtest/gtest.h>

#include <keel/core/config.hpp>
#include <keel/http/server.hpp>

namespace keel::http {
namespace {

asio::ip::address Ip(const char* text) { return asio::ip::make_address(text); }

std::vector<AddressRange> Ranges(std::string_view text) {
    std::string error;
    auto ranges = ParseAddressRanges(text, error);
    EXPECT_TRUE(ranges) << error;
    return ranges.value_or(std::vector<AddressRange>{});
}

TEST(AddressRange, MatchesByPrefix) {
    const auto ten = AddressRange::Parse("10.0.0.0/8");
    ASSERT_TRUE(ten);
    EXPECT_TRUE(ten->Contains(Ip("10.255.1.2")));
    EXPECT_TRUE(ten->Contains(Ip("::ffff:10.1.2.3")));  // IPv4 on a dual-stack socket
    EXPECT_FALSE(ten->Contains(Ip("11.0.0.1")));
    EXPECT_FALSE(ten->Contains(Ip("::1")));
    const auto one = AddressRange::Parse("192.0.2.7");
    ASSERT_TRUE(one);
    EXPECT_TRUE(one->Contains(Ip("192.0.2.7")));
    EXPECT_FALSE(one->Contains(Ip("192.0.2.6")));
    const auto v6 = AddressRange::Parse("2001:db8::/32");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->Contains(Ip("2001:db8:1::5")));
    EXPECT_FALSE(v6->Contains(Ip("2001:db9::5")));
    const auto odd = AddressRange::Parse("172.16.0.0/12");
    ASSERT_TRUE(odd);
    EXPECT_TRUE(odd->Contains(Ip("172.31.255.255")));
    EXPECT_FALSE(odd->Contains(Ip("172.32.0.0")));
    EXPECT_TRUE(AddressRange::Parse("0.0.0.0/0")->Contains(Ip("8.8.8.8")));
}

TEST(AddressRange, RefusesMalformedEntries) {
    for (const char* bad : {"", "10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0",
                            "host.example", "10.0.0.0/8/8", "10.0.0.0/-1"}) {
        EXPECT_FALSE(AddressRange::Parse(bad)) << bad;
    }
    std::string error;
    EXPECT_FALSE(ParseAddressRanges("127.0.0.1, nonsense", error));
    EXPECT_EQ(error, "'nonsense' is not an IP address or CIDR block");
    EXPECT_EQ(Ranges("10.0.0.0/8, ::1 192.0.2.1").size(), 3u);
    EXPECT_TRUE(Ranges("").empty());
}

TEST(ClientAddress, TrustsForwardingHeadersOnlyFromTrustedProxies) {
    const auto loopback = LoopbackRanges();
    // From the gateway (loopback): X-Real-IP names the client.
    EXPECT_EQ(ClientAddress(Ip("127.0.0.1"), "203.0.113.9", "", loopback), "203.0.113.9");
    EXPECT_EQ(ClientAddress(Ip("::1"), " 2001:db8::7 ", "", loopback), "2001:db8::7");
    // From anyone else the headers are made up: the peer counts.
    EXPECT_EQ(ClientAddress(Ip("198.51.100.4"), "203.0.113.9", "203.0.113.9", loopback),
              "198.51.100.4");
    // A header that is not an address is ignored.
    EXPECT_EQ(ClientAddress(Ip("127.0.0.1"), "evil\"; DROP", "", loopback), "127.0.0.1");
    EXPECT_EQ(ClientAddress(Ip("127.0.0.1"), "", "", loopback), "127.0.0.1");
    // Dual-stack sockets show IPv4 peers mapped; they are reported as IPv4.
    EXPECT_EQ(ClientAddress(Ip("::ffff:198.51.100.4"), "", "", loopback), "198.51.100.4");
    EXPECT_EQ(ClientAddress(Ip("::ffff:127.0.0.1"), "203.0.113.9", "", loopback), "203.0.113.9");
    // No trusted proxies at all: never the headers.
    EXPECT_EQ(ClientAddress(Ip("127.0.0.1"), "203.0.113.9", "", {}), "127.0.0.1");
}

TEST(ClientAddress, TakesTheLastUntrustedForwardedForEntry) {
    const auto trusted = Ranges("127.0.0.1, 10.0.0.0/8");
    // The client made up "1.1.1.1"; 203.0.113.9 connected to our proxy 10.0.0.2.
    EXPECT_EQ(ClientAddress(Ip("127.0.0.1"), "", "1.1.1.1, 203.0.113.9, 10.0.0.2", trusted),
              "203.0.113.9");
    EXPECT_EQ(ClientAddress(Ip("127.0.0.1"), "", "203.0.113.9", trusted), "203.0.113.9");
    // Only proxies in the chain: the farthest one.
    EXPECT_EQ(ClientAddress(Ip("127.0.0.1"), "", "10.0.0.3, 10.0.0.2", trusted), "10.0.0.3");
    // Garbage stops the walk at the last hop we can vouch for.
    EXPECT_EQ(ClientAddress(Ip("127.0.0.1"), "", "junk, 10.0.0.2", trusted), "10.0.0.2");
    EXPECT_EQ(ClientAddress(Ip("127.0.0.1"), "", "junk", trusted), "127.0.0.1");
    // X-Real-IP wins over X-Forwarded-For when both come from a trusted proxy.
    EXPECT_EQ(ClientAddress(Ip("10.0.0.2"), "198.51.100.1", "203.0.113.9", trusted),
              "198.51.100.1");
}

TEST(ServerSettings, ReadsTrustedProxiesAndTimeouts) {
    std::map<std::string, std::string> env{{"TRUSTED_PROXIES", "10.0.0.0/8 ::1"},
                                           {"HTTP_HEADER_TIMEOUT_MS", "2500"}};
    core::EnvConfig config([&](const std::string& name) -> std::optional<std::string> {
        auto it = env.find(name);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
    ServerOptions options;
    ReadServerSettings(config, options);
    EXPECT_NO_THROW(config.Finish());
    EXPECT_EQ(options.header_timeout, std::chrono::milliseconds(2500));
    EXPECT_EQ(options.idle_timeout, std::chrono::milliseconds(75'000));
    ASSERT_EQ(options.trusted_proxies.size(), 2u);
    EXPECT_TRUE(options.trusted_proxies[0].Contains(Ip("10.9.9.9")));
    EXPECT_FALSE(options.trusted_proxies[0].Contains(Ip("127.0.0.1")));

    // Defaults: loopback only.
    ServerOptions defaults;
    core::EnvConfig empty([](const std::string&) { return std::optional<std::string>(); });
    ReadServerSettings(empty, defaults);
    ASSERT_EQ(defaults.trusted_proxies.size(), 2u);
    EXPECT_TRUE(defaults.trusted_proxies[0].Contains(Ip("127.0.0.2")));
    EXPECT_TRUE(defaults.trusted_proxies[1].Contains(Ip("::1")));
    EXPECT_FALSE(defaults.trusted_proxies[0].Contains(Ip("10.0.0.1")));

    // Every problem at once, the proxies' among them.
    env = {{"TRUSTED_PROXIES", "10.0.0.0/33"}, {"HTTP_BODY_TIMEOUT_MS", "0"}};
    core::EnvConfig bad([&](const std::string& name) -> std::optional<std::string> {
        auto it = env.find(name);
        return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
    ServerOptions unused;
    try {
        ReadServerSettings(bad, unused);
        ADD_FAILURE() << "accepted";
    } catch (const core::ConfigError& e) {
        ASSERT_EQ(e.Problems().size(), 2u);
        EXPECT_NE(e.Problems()[0].find("HTTP_BODY_TIMEOUT_MS"), std::string::npos);
        EXPECT_EQ(e.Problems()[1],
                  "TRUSTED_PROXIES: '10.0.0.0/33' is not an IP address or CIDR block");
    }
}

}  // namespace
}  // namespace keel::http
