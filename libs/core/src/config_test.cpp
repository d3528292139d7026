#include <keel/core/config.hpp>
#include <keel/core/uuid.hpp>

#include <gtest/gtest.h>

#include <map>
#include <set>

namespace keel::core {
namespace {

EnvConfig From(std::map<std::string, std::string> env) {
    return EnvConfig([env](const std::string& name) -> std::optional<std::string> {
        auto it = env.find(name);
        if (it == env.end()) return std::nullopt;
        return it->second;
    });
}

TEST(EnvConfig, ReadsTypedValuesAndDefaults) {
    auto config = From({{"PORT", "8081"}, {"FLAG", "true"}, {"NAME", "x"}});
    EXPECT_EQ(config.Port("PORT"), 8081);
    EXPECT_TRUE(config.Bool("FLAG", false));
    EXPECT_EQ(config.String("NAME"), "x");
    EXPECT_EQ(config.String("MISSING", "dflt"), "dflt");
    EXPECT_EQ(config.Millis("T", std::chrono::milliseconds(5)).count(), 5);
    EXPECT_NO_THROW(config.Finish());
}

TEST(EnvConfig, ListsEveryProblemAtOnce) {
    auto config =
        From({{"PORT", "80a"}, {"THREADS", "1000"}, {"FLAG", "maybe"}, {"LEVEL", "loud"}});
    config.Port("PORT");
    config.Int("THREADS", 1, 1, 64);
    config.Bool("FLAG", false);
    config.String("PG_DSN");
    config.OneOf("LEVEL", {"debug", "info"}, "info");
    try {
        config.Finish();
        FAIL() << "expected ConfigError";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.Problems().size(), 5u);
        const std::string text = e.what();
        for (const char* name : {"PORT", "THREADS", "FLAG", "PG_DSN is required", "LEVEL"}) {
            EXPECT_NE(text.find(name), std::string::npos) << name << " in " << text;
        }
    }
}

TEST(Uuid, V7IsOrderedVersionedAndParses) {
    std::set<std::string> seen;
    std::string previous;
    for (int i = 0; i < 10000; ++i) {
        const auto text = Uuid::V7().ToString();
        EXPECT_GT(text, previous);
        EXPECT_EQ(text[14], '7');
        EXPECT_NE(std::string("89ab").find(text[19]), std::string::npos);
        previous = text;
        seen.insert(text);
    }
    EXPECT_EQ(seen.size(), 10000u);
    EXPECT_EQ(Uuid::Parse(previous)->ToString(), previous);
    EXPECT_FALSE(Uuid::Parse("not-a-uuid"));
    EXPECT_FALSE(Uuid::Parse("0190a0b0-0000-7000-8000-00000000000g"));
    EXPECT_EQ(RandomHex(16).size(), 32u);
}

}  // namespace
}  // namespace keel::core
