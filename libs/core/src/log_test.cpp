#include <keel/core/log.hpp>

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace keel::json {
namespace {

std::string Quoted(std::string_view text) {
    std::string out;
    AppendQuoted(out, text);
    return out;
}

TEST(AppendQuoted, EscapesQuotesBackslashesAndControls) {
    EXPECT_EQ(Quoted("a\"b\\c\nd\te\x01"), R"("a\"b\\c\nd\te\u0001")");
    EXPECT_EQ(Quoted(std::string_view("\0", 1)), R"("\u0000")");
}

TEST(AppendQuoted, KeepsWellFormedUtf8) {
    EXPECT_EQ(Quoted("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
              "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
}

// Found by fuzz/http_request: "no route for /ap\xda/..." made a problem+json body
// that strict JSON parsers refuse.
TEST(AppendQuoted, ReplacesBytesThatAreNotUtf8) {
    EXPECT_EQ(Quoted("/ap\xda/x"), R"("/ap\ufffd/x")");  // truncated sequence
    EXPECT_EQ(Quoted("\xff\xfe"), R"("\ufffd\ufffd")");
    EXPECT_EQ(Quoted("\xc0\xaf"), R"("\ufffd\ufffd")");                      // overlong '/'
    EXPECT_EQ(Quoted("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");            // a surrogate
    EXPECT_EQ(Quoted("\xf4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
    EXPECT_EQ(Quoted("\xe2\x82"), R"("\ufffd\ufffd")");  // cut at the end of the text
}

}  // namespace
}  // namespace keel::json
