#include <keel/bus/codec.hpp>

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace keel::bus {
namespace {
namespace json = boost::json;

json::value Placed() {
    return json::parse(R"({"order_id":"o-1","user_id":"u-1",
        "items":[{"product_id":"p-1","quantity":2,"unit_price":1250}],
        "total":2500,"currency":"EUR","placed_at":1700000000000})");
}

std::string ErrorOf(const json::value& payload, const char* topic = "orders.order_placed.v1") {
    try {
        Codec::Embedded().Encode(topic, payload);
    } catch (const SchemaError& e) {
        return e.what();
    }
    return "";
}

TEST(Codec, RoundTripsEveryField) {
    const auto& codec = Codec::Embedded();
    const auto bytes = codec.Encode("orders.order_placed.v1", Placed());
    EXPECT_LT(bytes.size(), 60u);  // binary Avro: no field names on the wire
    EXPECT_EQ(codec.Decode("orders.order_placed.v1", bytes), Placed());
}

TEST(Codec, NullableUnionTakesNullOrValue) {
    const auto& codec = Codec::Embedded();
    auto profile =
        json::parse(R"({"user_id":"u","email":"e@x","display_name":"E","updated_at":1})");
    auto decoded = codec.Decode("account.profile_updated.v1",
                                codec.Encode("account.profile_updated.v1", profile));
    EXPECT_TRUE(decoded.at("telegram_chat_id").is_null());  // missing nullable field -> null
    profile.as_object()["telegram_chat_id"] = 123456789012LL;
    decoded = codec.Decode("account.profile_updated.v1",
                           codec.Encode("account.profile_updated.v1", profile));
    EXPECT_EQ(decoded.at("telegram_chat_id").as_int64(), 123456789012LL);
}

TEST(Codec, RefusesPayloadsThatDoNotMatchNamingTheField) {
    auto missing = Placed();
    missing.as_object().erase("total");
    EXPECT_NE(ErrorOf(missing).find("total: expected an integer, got null"), std::string::npos)
        << ErrorOf(missing);
    auto wrong = Placed();
    wrong.as_object()["items"].as_array()[0].as_object()["quantity"] = "two";
    EXPECT_NE(ErrorOf(wrong).find("items[0].quantity: expected an integer"), std::string::npos)
        << ErrorOf(wrong);
    auto extra = Placed();
    extra.as_object()["coupon"] = "FREE";
    EXPECT_NE(ErrorOf(extra).find("coupon: not in the schema"), std::string::npos)
        << ErrorOf(extra);
    auto overflow = Placed();
    overflow.as_object()["items"].as_array()[0].as_object()["quantity"] = 1LL << 40;
    EXPECT_NE(ErrorOf(overflow).find("out of range"), std::string::npos);
    EXPECT_NE(ErrorOf(Placed(), "orders.no_such.v1").find("no schema"), std::string::npos);
}

TEST(Codec, RefusesBytesThatDoNotDecode) {
    const auto& codec = Codec::Embedded();
    const auto bytes = codec.Encode("orders.order_placed.v1", Placed());
    EXPECT_THROW(codec.Decode("orders.order_placed.v1", bytes.substr(0, bytes.size() / 2)),
                 DecodeError);
    EXPECT_THROW(
        codec.Decode("orders.order_placed.v1", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"),
        DecodeError);
    EXPECT_THROW(codec.Decode("orders.order_placed.v1", bytes + "trailing"), DecodeError);
}

TEST(Codec, FingerprintIgnoresDocsAndWhitespaceButNotTypes) {
    const std::string a =
        R"({"type":"record","name":"x.y.v1","fields":[{"name":"n","type":"int"}]})";
    const std::string b = R"({ "type" : "record", "doc": "d", "name" : "x.y.v1",
        "fields" : [ {"name":"n", "type": {"type":"int"}, "doc": "n"} ] })";
    const std::string c =
        R"({"type":"record","name":"x.y.v1","fields":[{"name":"n","type":"long"}]})";
    EXPECT_EQ(CanonicalForm(a), CanonicalForm(b));
    EXPECT_EQ(Rabin64(CanonicalForm(a)), Rabin64(CanonicalForm(b)));
    EXPECT_NE(Rabin64(CanonicalForm(a)), Rabin64(CanonicalForm(c)));
    EXPECT_EQ(CanonicalForm(a),
              R"({"name":"x.y.v1","type":"record","fields":[{"name":"n","type":"int"}]})");
    EXPECT_EQ(Codec::Embedded().Fingerprint("orders.order_placed.v1").size(), 16u);
}

TEST(Codec, ResolutionRules) {
    const std::string v1 =
        R"({"type":"record","name":"t.e.v1","fields":[{"name":"a","type":"int"}]})";
    const std::string added_default =
        R"({"type":"record","name":"t.e.v1","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null}]})";
    const std::string added_required =
        R"({"type":"record","name":"t.e.v1","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]})";
    const std::string widened =
        R"({"type":"record","name":"t.e.v1","fields":[{"name":"a","type":"long"}]})";
    const std::string retyped =
        R"({"type":"record","name":"t.e.v1","fields":[{"name":"a","type":"string"}]})";
    std::string why;
    EXPECT_TRUE(CanRead(added_default, v1, &why)) << why;  // new reader, old data
    EXPECT_TRUE(CanRead(v1, added_default, &why)) << why;  // old reader ignores b
    EXPECT_FALSE(CanRead(added_required, v1, &why));
    EXPECT_EQ(why, "b: added without a default");
    EXPECT_TRUE(CanRead(widened, v1, &why)) << why;  // int promotes to long
    EXPECT_FALSE(CanRead(v1, widened, &why));        // but not back
    EXPECT_FALSE(CanRead(retyped, v1, &why));
    EXPECT_EQ(why, "a: type changed from int to string");
}

// What the walk before libavro refuses (Walker in codec.cpp), with the reason.
std::string DecodeErrorOf(const Codec& codec, const char* topic, std::string_view bytes) {
    try {
        codec.Decode(topic, bytes);
    } catch (const DecodeError& e) {
        return e.what();
    }
    return "";
}

TEST(Codec, RefusesLengthsBeyondTheBytesBeforeLibavroAllocatesThem) {
    const auto& codec = Codec::Embedded();
    // fuzz/corpus/avro_decode/libavro_leak_truncated_string: "id" declares 5 bytes, has 1.
    EXPECT_NE(DecodeErrorOf(codec, "lab.ping.v1", std::string_view("\x0a\x61", 2))
                  .find("field id: string length 5 overruns the 1 bytes left"),
              std::string::npos);
    // ~2 GB declared: refused before libavro mallocs it.
    EXPECT_NE(DecodeErrorOf(codec, "lab.ping.v1",
                            "\xfe\xff\xff\xff\x0f"
                            "a")
                  .find("overruns"),
              std::string::npos);
    EXPECT_NE(DecodeErrorOf(codec, "lab.ping.v1", std::string_view("\x01", 1))
                  .find("negative string length -1"),
              std::string::npos);
    // A long of 11 bytes (its 10th byte has more than bit 63).
    EXPECT_NE(DecodeErrorOf(codec, "lab.ping.v1",
                            "\x02"
                            "a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00")
                  .find("field n: varint overflows 64 bits"),
              std::string::npos);
    const auto ping = codec.Encode("lab.ping.v1", json::parse(R"({"id":"a","n":1,"body":"b"})"));
    EXPECT_NE(DecodeErrorOf(codec, "lab.ping.v1", ping + "x").find("1 bytes after the end"),
              std::string::npos);
    EXPECT_NE(
        DecodeErrorOf(codec, "lab.ping.v1", ping.substr(0, ping.size() - 1)).find("field body"),
        std::string::npos);
    EXPECT_EQ(codec.Decode("lab.ping.v1", ping), json::parse(R"({"id":"a","n":1,"body":"b"})"));
}

TEST(Codec, RefusesStringsThatEncodeWouldRefuse) {
    const auto& codec = Codec::Embedded();
    const auto ping = [](std::string_view id) {
        std::string out(1, static_cast<char>(id.size() * 2));
        out += id;
        out += std::string_view("\x02\x00", 2);  // n = 1, body = ""
        return out;
    };
    // fuzz/corpus/avro_decode/nul_in_string
    EXPECT_NE(DecodeErrorOf(codec, "lab.ping.v1", ping(std::string_view("ab\0", 3)))
                  .find("field id: NUL in string"),
              std::string::npos);
    for (const char* bad : {"\xc3\x28", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82",
                            "\x80", "abcdefgh\xff"}) {
        EXPECT_NE(DecodeErrorOf(codec, "lab.ping.v1", ping(bad)).find("string is not UTF-8"),
                  std::string::npos)
            << bad;
    }
    const std::string ok = "d\xc3\xa9j\xc3\xa0 vu \xe2\x82\xac \xf0\x9f\x98\x80 0123456789";
    EXPECT_EQ(codec.Decode("lab.ping.v1", ping(ok)).at("id").as_string(), ok);
    // Bytes are not text: NUL and any byte stay allowed there (see the walk schema below).
}

// Every Avro type the walk knows, in one schema of its own.
constexpr std::string_view kWalkSchema = R"({"type":"record","name":"test.walk.v1","fields":[
    {"name":"b","type":"boolean"},
    {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"]}},
    {"name":"u","type":["null","string"]},
    {"name":"a","type":{"type":"array","items":"int"}},
    {"name":"m","type":{"type":"map","values":"long"}},
    {"name":"d","type":"double"},
    {"name":"x","type":"bytes"}]})";

TEST(Codec, WalksEveryTypeAndRefusesWhatIsOutOfRange) {
    const SchemaSource source{"test.walk.v1", kWalkSchema};
    const Codec codec({&source, 1});
    const auto payload = json::parse(
        R"({"b":true,"e":"Y","u":"s","a":[1,2],"m":{"k":3},"d":1.5,"x":"\u0000\u0001"})");
    const auto bytes = codec.Encode("test.walk.v1", payload);
    EXPECT_EQ(codec.Decode("test.walk.v1", bytes), payload);
    // b, e, u, a (1 block of 2), m (1 block of 1), d, x (the codec has no fixed)
    const std::string head = "\x01\x02\x02\x02s";
    const std::string tail = std::string(8, '\0') + "\x04" + std::string("\x00\x01", 2);
    const std::string a = std::string("\x04\x02\x04\x00", 4);
    const std::string m = std::string("\x02\x02k\x06\x00", 5);
    EXPECT_EQ(codec.Decode("test.walk.v1", head + a + m + tail).at("a"), json::parse("[1,2]"));
    const auto error = [&](const std::string& b) {
        return DecodeErrorOf(codec, "test.walk.v1", b);
    };
    // Valid Avro that libavro does not write (it would re-encode shorter): refused.
    EXPECT_NE(error(head + std::string("\x03\x04\x02\x04\x00", 5) + m + tail)
                  .find("field a: block count -2 (blocks with a byte size)"),
              std::string::npos);
    EXPECT_NE(error(head + std::string("\x02\x02\x02\x04\x00", 5) + m + tail)
                  .find("field a: more than one block"),
              std::string::npos);
    EXPECT_NE(error(head + std::string("\x04\x82\x00\x04\x00", 5) + m + tail)
                  .find("field a: varint not in its shortest form"),
              std::string::npos);
    EXPECT_NE(error("\x02" + head.substr(1) + a + m + tail).find("field b: boolean byte 2"),
              std::string::npos);
    EXPECT_NE(error("\x01\x04" + head.substr(2) + a + m + tail)
                  .find("field e: enum index 2 out of range"),
              std::string::npos);
    EXPECT_NE(error("\x01\x02\x04" + head.substr(3) + a + m + tail)
                  .find("field u: union branch 2 out of range"),
              std::string::npos);
    EXPECT_NE(error(head + "\xfe\xff\xff\xff\x0f" + m + tail).find("field a: block count"),
              std::string::npos);
    EXPECT_NE(error(head + a + std::string("\x02\x02k\x06", 4)).find("field m"), std::string::npos);
    EXPECT_NE(error(head + a + std::string("\x02\x02\xff\x06\x00", 5) + tail)
                  .find("field m: string is not UTF-8"),
              std::string::npos);
    EXPECT_NE(error(head + a + m + std::string(7, '\0')).find("field d: truncated"),
              std::string::npos);
}

}  // namespace
}  // namespace keel::bus
