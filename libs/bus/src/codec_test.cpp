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

}  // namespace
}  // namespace keel::bus
