#include <keel/bus/envelope.hpp>

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace keel::bus {
namespace {

constexpr std::string_view kParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
constexpr std::string_view kTrace = "0af7651916cd43dd8448eb211c80319c";

bool IsLowerHex(std::string_view text) {
    return text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// A well-formed version-00 traceparent; returns its trace id.
std::string TraceOf(const std::string& next) {
    EXPECT_EQ(next.size(), 55u) << next;
    EXPECT_EQ(next.substr(0, 3), "00-") << next;
    EXPECT_TRUE(next.substr(52) == "-01" || next.substr(52) == "-00") << next;
    EXPECT_EQ(next[35], '-') << next;
    EXPECT_TRUE(IsLowerHex(next.substr(3, 32)) && IsLowerHex(next.substr(36, 16))) << next;
    EXPECT_NE(next.substr(3, 32), std::string(32, '0')) << next;
    EXPECT_NE(next.substr(36, 16), std::string(16, '0')) << next;
    return next.substr(3, 32);
}

std::string With(std::size_t at, std::string_view text, std::string_view base = kParent) {
    std::string out(base);
    out.replace(at, text.size(), text);
    return out;
}

TEST(Traceparent, AValidParentKeepsItsTraceWithANewSpan) {
    const auto next = NextTraceparent(kParent);
    EXPECT_EQ(TraceOf(next), kTrace);
    EXPECT_NE(next.substr(36, 16), kParent.substr(36, 16));
    // Not sampled: still valid, and the decision travels on (W3C: a child keeps the flag).
    const auto unsampled = NextTraceparent(With(53, "00"));
    EXPECT_EQ(TraceOf(unsampled), kTrace);
    EXPECT_EQ(unsampled.substr(52), "-00");
    EXPECT_EQ(next.substr(52), "-01");
    // A later version may carry more fields after a '-'; what 00 defines is kept.
    EXPECT_EQ(TraceOf(NextTraceparent(With(0, "cc") + "-what-comes-later")), kTrace);
    EXPECT_EQ(TraceOf(NextTraceparent(With(0, "01"))), kTrace);
}

TEST(Traceparent, AnInvalidParentStartsANewTrace) {
    const std::string invalid[] = {
        "",
        std::string(kParent.substr(0, 54)),
        std::string(kParent) + "-",                   // version 00 is exactly 55
        With(0, "ff"),                                // version ff is invalid
        With(0, "0A"),                                // upper case
        With(3, "0af7651+"),                          // fuzz/corpus/envelope/non_hex_trace_id
        With(3, "0AF7651916CD43DD8448EB211C80319C"),  // upper case
        With(3, std::string(32, '0')),                // all-zero trace id
        With(36, "B7AD6B7169203331"),                 // upper case parent id
        With(36, std::string(16, '0')),               // all-zero parent id
        With(36, "b7ad6b71692033zz"),
        With(53, "0g"),  // flags not hex
        With(2, "_"),
        With(35, "_"),
        With(52, "_"),
        With(0, "01") + "x",  // a later version: '-' after the 55
    };
    for (const auto& parent : invalid) {
        const auto trace = TraceOf(NextTraceparent(parent));
        EXPECT_NE(trace, kTrace) << parent;
    }
    // Each new trace is a fresh random one.
    EXPECT_NE(TraceOf(NextTraceparent("")), TraceOf(NextTraceparent("")));
}

}  // namespace
}  // namespace keel::bus
