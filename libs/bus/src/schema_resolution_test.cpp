// Decoding events written with another compatible version of the topic's schema
// (a rolling deploy): older and newer writers resolved into the reader's schema.
#include <keel/bus/codec.hpp>

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace keel::bus {
namespace {
namespace json = boost::json;

constexpr const char* kTopic = "test.evolving.v1";

std::string TestSchema(const std::string& name) {
    std::ifstream in(std::filesystem::path(KEEL_SOURCE_DIR) / "libs/bus/src/testdata" / name);
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_FALSE(text.str().empty()) << name;
    return text.str();
}

// The schema versions, kept alive for the codecs' string_views.
struct Versions {
    std::string old_json = TestSchema("evolving.v1.old.avsc");
    std::string current_json = TestSchema("evolving.v1.avsc");
    std::string new_json = TestSchema("evolving.v1.new.avsc");
    std::string breaking_json = TestSchema("evolving.v1.breaking.avsc");
    std::string other_json =
        R"({"type":"record","name":"test.other.v1","fields":[{"name":"id","type":"string"}]})";
};

const Versions& V() {
    static const Versions versions;
    return versions;
}

// A producer that writes with `json` as its own schema.
std::string WriteWith(const std::string& json, const json::value& payload) {
    const SchemaSource source{kTopic, json};
    const Codec writer({&source, 1});
    return writer.Encode(kTopic, payload);
}

// The consumer: reads the current version and knows the old one (as if released).
std::unique_ptr<Codec> Reader() {
    static const SchemaSource sources[] = {{kTopic, V().current_json},
                                           {"test.other.v1", V().other_json}};
    static const SchemaSource released[] = {{kTopic, V().old_json}};
    return std::make_unique<Codec>(sources, released);
}

TEST(SchemaResolution, AnOlderWriterIsReadWithTheReadersDefaults) {
    const auto reader = Reader();
    const auto bytes = WriteWith(
        V().old_json, json::parse(R"({"id":"a","n":7,"dropped":"gone","colour":"GREEN"})"));
    const auto decoded = reader->Decode(kTopic, bytes, FingerprintOf(V().old_json));
    EXPECT_EQ(decoded, json::parse(R"({"id":"a","n":7,"note":null,"tags":[],"score":0.0,
                                      "colour":"GREEN"})"));
    EXPECT_TRUE(decoded.at("score").is_double());  // the default, as the reader's type
    // What the reader decodes, it can encode again: the payload is the reader's shape.
    EXPECT_NO_THROW(reader->Encode(kTopic, decoded));
}

TEST(SchemaResolution, ANewerWriterIsLearnedThenReadWithoutItsNewFields) {
    const auto reader = Reader();
    const auto fingerprint = FingerprintOf(V().new_json);
    const auto bytes =
        WriteWith(V().new_json, json::parse(R"({"id":"b","n":8,"note":"hi","tags":["x"],"score":1.5,
                                     "colour":"VIOLET","priority":3})"));
    EXPECT_FALSE(reader->KnowsWriter(fingerprint));
    try {
        reader->Decode(kTopic, bytes, fingerprint);
        ADD_FAILURE() << "decoded with an unknown writer schema";
    } catch (const UnknownSchemaError& e) {
        EXPECT_EQ(e.Fingerprint(), fingerprint);
        EXPECT_EQ(e.Topic(), kTopic);
        const UnavailableError& transient = e;  // the consumer retries it, never dead-letters
        EXPECT_NE(std::string(transient.what()).find(fingerprint), std::string::npos);
    }
    EXPECT_EQ(reader->Learn(V().new_json), fingerprint);
    EXPECT_TRUE(reader->KnowsWriter(fingerprint));
    // VIOLET is unknown to the reader: its enum default.
    EXPECT_EQ(reader->Decode(kTopic, bytes, fingerprint),
              json::parse(R"({"id":"b","n":8,"note":"hi","tags":["x"],"score":1.5,
                              "colour":"RED"})"));
}

TEST(SchemaResolution, TheReadersOwnFingerprintOrNoneDecodesAsBefore) {
    const auto reader = Reader();
    const auto payload =
        json::parse(R"({"id":"c","n":9,"note":null,"tags":[],"score":2.0,"colour":"BLUE"})");
    const auto bytes = reader->Encode(kTopic, payload);
    EXPECT_EQ(reader->Decode(kTopic, bytes, reader->Fingerprint(kTopic)), payload);
    EXPECT_EQ(reader->Decode(kTopic, bytes, ""), payload);
    EXPECT_TRUE(reader->KnowsWriter(reader->Fingerprint(kTopic)));
    EXPECT_TRUE(reader->KnowsWriter(FingerprintOf(V().old_json)));  // released: embedded
}

TEST(SchemaResolution, LearnRefusesWhatDoesNotResolveAndSaysWhy) {
    const auto reader = Reader();
    try {
        reader->Learn(V().breaking_json);
        ADD_FAILURE() << "learned a schema that does not resolve";
    } catch (const SchemaError& e) {
        EXPECT_NE(std::string(e.what()).find("n: type changed from string to long"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_FALSE(reader->KnowsWriter(FingerprintOf(V().breaking_json)));
    EXPECT_THROW(
        reader->Learn(
            R"({"type":"record","name":"test.unread.v1","fields":[{"name":"a","type":"int"}]})"),
        SchemaError);  // a topic this codec does not read
    EXPECT_THROW(reader->Learn("not json"), SchemaError);
    // A released writer that does not resolve is a build mistake: the codec refuses it.
    const SchemaSource sources[] = {{kTopic, V().current_json}};
    const SchemaSource released[] = {{kTopic, V().breaking_json}};
    EXPECT_THROW(Codec(sources, released), SchemaError);
}

TEST(SchemaResolution, BytesThatDoNotMatchTheirWriterAreDecodeErrors) {
    const auto reader = Reader();
    const auto old_fingerprint = FingerprintOf(V().old_json);
    const auto bytes =
        WriteWith(V().old_json, json::parse(R"({"id":"d","n":1,"dropped":"","colour":"RED"})"));
    EXPECT_THROW(reader->Decode(kTopic, bytes + "x", old_fingerprint), DecodeError);
    EXPECT_THROW(reader->Decode(kTopic, bytes.substr(0, 2), old_fingerprint), DecodeError);
    // A fingerprint of another topic's schema: garbage, not a deploy in progress.
    EXPECT_THROW(reader->Decode("test.other.v1", bytes, old_fingerprint), DecodeError);
}

TEST(SchemaResolution, BytesOfALearnedWriterAreWalkedBeforeLibavroReadsThem) {
    const auto reader = Reader();
    const auto old_fingerprint = FingerprintOf(V().old_json);
    // The old writer's "id" declares 5 bytes and has 1 (libavro would malloc and leak).
    try {
        reader->Decode(kTopic, std::string_view("\x0a\x61", 2), old_fingerprint);
        ADD_FAILURE() << "decoded";
    } catch (const DecodeError& e) {
        EXPECT_NE(std::string(e.what()).find("field id: string length 5 overruns"),
                  std::string::npos)
            << e.what();
    }
    // A NUL in the old writer's "dropped" field, which the reader drops: still refused.
    const auto bytes =
        WriteWith(V().old_json, json::parse(R"({"id":"a","n":7,"dropped":"","colour":"GREEN"})"));
    std::string bad = bytes;
    const auto at = bad.find(std::string_view("\x00\x02", 2));  // dropped = "", colour = 1
    ASSERT_NE(at, std::string::npos);
    bad.replace(at, 1, std::string_view("\x02\x00", 2));  // dropped = "\0"
    EXPECT_THROW(reader->Decode(kTopic, bad, old_fingerprint), DecodeError);
    EXPECT_THROW(reader->Decode(kTopic, bytes + "x", old_fingerprint), DecodeError);
    EXPECT_EQ(reader->Decode(kTopic, bytes, old_fingerprint).at("id"), "a");
}

TEST(SchemaResolution, CodecsWithTheSameEntryAddressesDoNotShareScratchValues) {
    // Each codec's thread-local scratch is keyed by entry id: a codec built where a
    // destroyed one was must not decode with the old one's schema.
    for (int i = 0; i < 3; ++i) {
        const auto bytes =
            WriteWith(V().old_json, json::parse(R"({"id":"e","n":2,"dropped":"","colour":"RED"})"));
        const auto reader = Reader();
        EXPECT_EQ(reader->Decode(kTopic, bytes, FingerprintOf(V().old_json)).at("n"), 2);
    }
}

}  // namespace
}  // namespace keel::bus
