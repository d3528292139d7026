#include <keel/telemetry/trace.hpp>

#include <gtest/gtest.h>

namespace keel::telemetry {
namespace {

constexpr std::string_view kValid = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

// What `header` parses to; all empty when it does not (the expectations then fail).
SpanContext Parsed(std::string_view header) {
    return ParseTraceparent(header).value_or(SpanContext{"", "", false});
}

TEST(Traceparent, ParsesVersion00) {
    EXPECT_TRUE(ParseTraceparent(kValid));
    const SpanContext parsed = Parsed(kValid);
    EXPECT_EQ(parsed.trace_id, "0af7651916cd43dd8448eb211c80319c");
    EXPECT_EQ(parsed.span_id, "b7ad6b7169203331");
    EXPECT_TRUE(parsed.sampled);
    EXPECT_FALSE(Parsed("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00").sampled);
    EXPECT_EQ(FormatTraceparent(parsed), kValid);
}

TEST(Traceparent, RefusesMalformedHeaders) {
    for (const std::string_view bad : {
             "",
             "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",       // no flags
             "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",    // upper case
             "00-00000000000000000000000000000000-b7ad6b7169203331-01",    // zero trace
             "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",    // zero span
             "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",    // version ff
             "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",  // 00 has no more
             "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",    // separator
             "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",    // not hex
             "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0z",    // flags
             "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",   // v01: '-' after
         }) {
        EXPECT_FALSE(ParseTraceparent(bad)) << bad;
    }
}

TEST(Traceparent, ALaterVersionKeepsWhatVersion00Defines) {
    EXPECT_EQ(Parsed("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-whatever").span_id,
              "b7ad6b7169203331");
}

TEST(Traceparent, AChildKeepsTheTraceWithANewSpan) {
    const SpanContext parent = Parsed(kValid);
    const SpanContext child = ChildOf(parent);
    EXPECT_EQ(child.trace_id, parent.trace_id);
    EXPECT_NE(child.span_id, parent.span_id);
    EXPECT_TRUE(ParseTraceparent(FormatTraceparent(child)));
    const SpanContext root = ChildOf(std::nullopt);
    EXPECT_EQ(root.trace_id.size(), 32u);
    EXPECT_EQ(root.span_id.size(), 16u);
    EXPECT_NE(root.trace_id, ChildOf(std::nullopt).trace_id);
}

}  // namespace
}  // namespace keel::telemetry
