#include <gtest/gtest.h>

#include "message.hpp"

namespace keel::alert_relay {
namespace {

Alert Firing() {
    Alert a;
    a.status = "firing";
    a.fingerprint = "4f2a9c1d0e7b3a65";
    a.labels = {{"alertname", "ServiceDown"},
                {"service", "catalog"},
                {"severity", "critical"},
                {"instance", "catalog-1"}};
    a.annotations = {{"summary", "all catalog instances are down"},
                     {"description", "0 of 2 up for 30s"}};
    a.starts_at = "2026-11-30T12:00:00.5Z";
    a.ends_at = "0001-01-01T00:00:00Z";
    a.generator_url = "http://127.0.0.1:8880/vmalert/alert?group_id=1&alert_id=2";
    return a;
}

TEST(Message, FiringSaysWhatWhereSinceWhenAndLinksTheSource) {
    EXPECT_EQ(
        FormatAlert(Firing(), 0),
        "\xF0\x9F\x94\xA5 <b>FIRING</b> \xC2\xB7 critical \xC2\xB7 catalog\n"
        "<b>ServiceDown</b>\n"
        "<i>all catalog instances are down</i>\n"
        "0 of 2 up for 30s\n"
        "since 2026-11-30 12:00:00 UTC\n"
        "<code>instance=catalog-1</code>\n"
        "<a href=\"http://127.0.0.1:8880/vmalert/alert?group_id=1&amp;alert_id=2\">source</a>");
}

TEST(Message, ResolvedSaysHowLongItLasted) {
    auto a = Firing();
    a.status = "resolved";
    a.ends_at = "2026-11-30T13:02:03.5Z";
    const auto text = FormatAlert(a, 0);
    EXPECT_TRUE(text.starts_with("\xE2\x9C\x85 <b>RESOLVED</b>")) << text;
    EXPECT_NE(text.find("started 2026-11-30 12:00:00 UTC, lasted 1h 2m 3s"), std::string::npos);
}

TEST(Message, EscapesEveryTextFromTheAlert) {
    auto a = Firing();
    a.labels["alertname"] = "<script>";
    a.labels["service"] = "a&b";
    a.labels["path"] = "/x?<y>";
    a.annotations["summary"] = "5xx > 1% \"now\"";
    a.annotations["description"] = "</i><b>bold";
    a.generator_url = "javascript:alert(1)";
    const auto text = FormatAlert(a, 0);
    EXPECT_NE(text.find("<b>&lt;script&gt;</b>"), std::string::npos) << text;
    EXPECT_NE(text.find("a&amp;b"), std::string::npos);
    EXPECT_NE(text.find("path=/x?&lt;y&gt;"), std::string::npos);
    EXPECT_NE(text.find("<i>5xx &gt; 1% &quot;now&quot;</i>"), std::string::npos);
    EXPECT_NE(text.find("&lt;/i&gt;&lt;b&gt;bold"), std::string::npos);
    EXPECT_EQ(text.find("href"), std::string::npos);  // only http(s) links
}

TEST(Message, CountsSuppressedStateChanges) {
    EXPECT_TRUE(FormatAlert(Firing(), 3)
                    .ends_with("\xE2\x9A\xA0\xEF\xB8\x8F 3 earlier state changes of this alert not "
                               "sent (flapping)"));
    EXPECT_NE(FormatAlert(Firing(), 1).find(" 1 earlier state change of"), std::string::npos);
}

TEST(Message, StaysUnderTelegramsLimitWhateverTheAlertHolds) {
    auto a = Firing();
    a.annotations["description"] = std::string(100'000, 'd');
    a.annotations["summary"] = std::string(100'000, 's');
    for (int i = 0; i < 100; ++i) a.labels["label" + std::to_string(i)] = std::string(500, 'v');
    const auto text = FormatAlert(a, 0);
    EXPECT_LT(text.size(), 4096u);
    EXPECT_NE(text.find("\xE2\x80\xA6"), std::string::npos);  // cut, and says so
}

TEST(Utf8, TruncatesOnACharacterBoundary) {
    const std::string word = "\xD0\xBF\xD1\x80\xD0\xB8";  // three 2-byte letters
    EXPECT_EQ(TruncateUtf8(word, 6), word);
    EXPECT_EQ(TruncateUtf8(word, 5), "\xD0\xBF\xE2\x80\xA6");
    EXPECT_EQ(TruncateUtf8(word, 4), "\xE2\x80\xA6");
    EXPECT_EQ(TruncateUtf8(word, 2), "");
}

TEST(Html, EscapesTheFourSpecialCharacters) {
    EXPECT_EQ(EscapeHtml(R"(a<b>&"c')"), "a&lt;b&gt;&amp;&quot;c'");
}

}  // namespace
}  // namespace keel::alert_relay
