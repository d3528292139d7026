#include <keel/http/text.hpp>

#include <gtest/gtest.h>

#include <string>

#include <keel/http/message.hpp>

namespace keel::http {
namespace {

TEST(Utf8, AcceptsWellFormedText) {
    EXPECT_TRUE(IsUtf8(""));
    EXPECT_TRUE(IsUtf8("plain ascii"));
    EXPECT_TRUE(IsUtf8("caf\xC3\xA9"));           // é
    EXPECT_TRUE(IsUtf8("\xE2\x82\xAC"));          // €
    EXPECT_TRUE(IsUtf8("\xF0\x9F\x98\x80"));      // U+1F600
    EXPECT_TRUE(IsUtf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF, the last code point
    EXPECT_TRUE(IsUtf8(std::string("a\0b", 3)));  // NUL is UTF-8; RequireText refuses it
}

TEST(Utf8, RefusesMalformedText) {
    for (const char* bad : {
             "\xFF\xFE",          // never valid bytes
             "\x80",              // stray continuation byte
             "\xC3",              // truncated
             "\xE2\x82",          // truncated
             "\xC0\x80",          // overlong NUL
             "\xC1\xBF",          // overlong
             "\xE0\x80\x80",      // overlong
             "\xF0\x80\x80\x80",  // overlong
             "\xED\xA0\x80",      // UTF-16 surrogate
             "\xF4\x90\x80\x80",  // past U+10FFFF
             "\xF5\x80\x80\x80",  // past U+10FFFF
             "\xC3\x28",          // bad continuation
             "ok\xE2\x28\xA1",    // bad continuation after valid text
         }) {
        EXPECT_FALSE(IsUtf8(bad)) << bad;
    }
}

TEST(Utf8, RequireTextNamesTheParameter) {
    EXPECT_NO_THROW(RequireText("query parameter 'q'", "caf\xC3\xA9"));
    try {
        RequireText("query parameter 'q'", "\xFF\xFE");
        ADD_FAILURE() << "accepted";
    } catch (const HttpError& e) {
        EXPECT_EQ(e.GetStatus(), Status::bad_request);
        EXPECT_EQ(e.Detail(), "query parameter 'q' is not valid UTF-8");
    }
    try {
        RequireText("path parameter 'id'", std::string("a\0b", 3));
        ADD_FAILURE() << "accepted";
    } catch (const HttpError& e) {
        EXPECT_EQ(e.GetStatus(), Status::bad_request);
        EXPECT_EQ(e.Detail(), "path parameter 'id' must not contain NUL");
    }
}

}  // namespace
}  // namespace keel::http
