#include "histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace keel::load {
namespace {

// The exact percentile as Histogram defines it: the value of rank ceil(p/100 * n).
std::uint64_t Exact(std::vector<std::uint64_t> values, double p) {
    std::sort(values.begin(), values.end());
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * values.size()));
    rank = std::clamp<std::size_t>(rank, 1, values.size());
    return values[rank - 1];
}

TEST(Histogram, EmptyAnswersZero) {
    Histogram h;
    EXPECT_EQ(h.Count(), 0u);
    EXPECT_EQ(h.Percentile(99), 0u);
    EXPECT_EQ(h.Mean(), 0.0);
}

TEST(Histogram, SmallValuesAreExact) {
    Histogram h;
    for (std::uint64_t v = 0; v < 2048; ++v) h.Record(v);
    EXPECT_EQ(h.Percentile(50), 1023u);
    EXPECT_EQ(h.Percentile(100), 2047u);
    EXPECT_EQ(h.Min(), 0u);
    EXPECT_DOUBLE_EQ(h.Mean(), 1023.5);
}

TEST(Histogram, BucketsCoverTheRangeInOrderWithinOneThousandth) {
    std::size_t last = 0;
    for (std::uint64_t v = 1; v <= Histogram::kMaxMicros; v += 1 + v / 3000) {
        const std::size_t index = Histogram::IndexOf(v);
        ASSERT_GE(index, last) << v;
        last = index;
        const std::uint64_t high = Histogram::HighestEquivalent(index);
        ASSERT_GE(high, v) << v;
        ASSERT_LE(static_cast<double>(high - v), v / 1000.0) << v;
    }
}

TEST(Histogram, PercentilesWithinOneThousandthOfExact) {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> latency(std::log(5000.0), 1.5);  // µs: ~5 ms, long tail
    std::vector<std::uint64_t> values;
    Histogram h;
    for (int i = 0; i < 200000; ++i) {
        const auto v = std::min<std::uint64_t>(static_cast<std::uint64_t>(latency(rng)),
                                               Histogram::kMaxMicros);
        values.push_back(v);
        h.Record(v);
    }
    for (double p : {1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 99.99, 100.0}) {
        const double exact = static_cast<double>(Exact(values, p));
        const double got = static_cast<double>(h.Percentile(p));
        EXPECT_GE(got, exact) << p;
        EXPECT_LE(got - exact, exact * 0.001) << "p" << p << " exact " << exact << " got " << got;
    }
    EXPECT_EQ(h.Max(), *std::max_element(values.begin(), values.end()));
}

TEST(Histogram, ClampsAboveSixtySeconds) {
    Histogram h;
    h.Record(Histogram::kMaxMicros * 10);
    EXPECT_EQ(h.Max(), Histogram::kMaxMicros);
    EXPECT_EQ(h.Percentile(50), Histogram::kMaxMicros);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
    std::mt19937_64 rng(7);
    Histogram a, b, both;
    for (int i = 0; i < 50000; ++i) {
        const std::uint64_t v = rng() % 5'000'000;
        (i % 3 ? a : b).Record(v);
        both.Record(v);
    }
    a.Merge(b);
    EXPECT_EQ(a.Count(), both.Count());
    EXPECT_EQ(a.Max(), both.Max());
    EXPECT_EQ(a.Min(), both.Min());
    EXPECT_DOUBLE_EQ(a.Mean(), both.Mean());
    for (double p : {50.0, 99.0, 99.9}) EXPECT_EQ(a.Percentile(p), both.Percentile(p)) << p;
}

TEST(Histogram, ResetPerSecondKeepsTheTotal) {
    Histogram second, total;
    for (int s = 0; s < 3; ++s) {
        for (std::uint64_t v = 1; v <= 100; ++v) second.Record(v * (s + 1) * 1000);
        EXPECT_EQ(second.Count(), 100u);
        EXPECT_EQ(second.Max(), 100u * (s + 1) * 1000);
        total.Merge(second);
        second.Reset();
        EXPECT_EQ(second.Count(), 0u);
        EXPECT_EQ(second.Percentile(99), 0u);
    }
    EXPECT_EQ(total.Count(), 300u);
    EXPECT_EQ(total.Max(), 300000u);
    EXPECT_EQ(total.Min(), 1000u);
}

}  // namespace
}  // namespace keel::load
