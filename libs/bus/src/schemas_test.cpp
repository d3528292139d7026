// The schemas under schemas/ against their released copies under schemas/released/:
// a topic's schema may only change so that old and new readers both still read
// what old and new writers wrote. Anything else needs a new topic (<name>.v<N+1>).
#include <keel/bus/codec.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace keel::bus {
namespace {

std::string Read(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

const std::filesystem::path kDir = std::filesystem::path(KEEL_SOURCE_DIR) / "schemas";

TEST(Schemas, EveryTopicIsCompatibleWithItsReleasedSchema) {
    int checked = 0;
    for (const auto& topic : Codec::Embedded().Topics()) {
        const auto released = kDir / "released" / (topic + ".avsc");
        ASSERT_TRUE(std::filesystem::exists(released))
            << topic << " has no released copy: when it is ready, copy it to " << released;
        const auto current = Codec::Embedded().SchemaJson(topic);
        const auto old = Read(released);
        std::string why;
        EXPECT_TRUE(CanRead(current, old, &why))
            << topic << ": new readers cannot read events written with the released schema (" << why
            << "); make it a new topic version instead";
        EXPECT_TRUE(CanRead(old, current, &why))
            << topic << ": consumers on the released schema cannot read new events (" << why
            << "); make it a new topic version instead";
        ++checked;
    }
    EXPECT_GE(checked, 10);
}

TEST(Schemas, EveryReleasedSchemaStillHasItsTopic) {
    for (const auto& entry : std::filesystem::directory_iterator(kDir / "released")) {
        const auto topic = entry.path().stem().string();
        EXPECT_TRUE(Codec::Embedded().Has(topic))
            << topic << " was released; consumers may still read it: keep schemas/" << topic
            << ".avsc";
    }
}

TEST(Schemas, EveryReleasedSchemaIsAWriterTheBinaryReads) {
    // Events written by the released version decode without the schema registry.
    for (const auto& entry : std::filesystem::directory_iterator(kDir / "released")) {
        const auto fingerprint = FingerprintOf(Read(entry.path()));
        EXPECT_TRUE(Codec::Embedded().KnowsWriter(fingerprint)) << entry.path();
    }
    EXPECT_EQ(EmbeddedReleasedSchemas().size(),
              static_cast<std::size_t>(
                  std::distance(std::filesystem::directory_iterator(kDir / "released"),
                                std::filesystem::directory_iterator())));
}

TEST(Schemas, TopicIsTheSchemaNameWithAVersion) {
    for (const auto& topic : Codec::Embedded().Topics()) {
        const auto dot = topic.rfind(".v");
        EXPECT_TRUE(dot != std::string::npos && dot + 2 < topic.size() &&
                    topic.find_first_not_of("0123456789", dot + 2) == std::string::npos)
            << topic << " must be <domain>.<event>.v<N>";
    }
}

TEST(Schemas, AnIncompatibleEditIsCaught) {
    // What the test above does for a real edit: orders.order_placed.v1 with total as a string.
    auto edited = Codec::Embedded().SchemaJson("orders.order_placed.v1");
    const auto at = edited.find(R"("name": "total", "type": "long")");
    ASSERT_NE(at, std::string::npos);
    edited.replace(at, 31, R"("name": "total", "type": "string")");
    std::string why;
    EXPECT_FALSE(CanRead(edited, Codec::Embedded().SchemaJson("orders.order_placed.v1"), &why));
    EXPECT_EQ(why, "total: type changed from long to string");
}

}  // namespace
}  // namespace keel::bus
