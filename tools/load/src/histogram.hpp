#pragma once
// An HDR-style latency histogram: log-linear buckets with 3 significant digits.
#include <array>
#include <cstdint>
#include <vector>

namespace keel::load {

/// Values in microseconds from 0 to kMaxMicros (larger ones are clamped and counted), stored
/// with a relative error of at most 1/1024 (< 0.1%): below 2048 µs exactly, above in buckets
/// of 1024 linear sub-buckets per power of two (as HdrHistogram with 3 significant digits).
/// Fixed size (~140 KiB), no allocation after construction. Not thread-safe.
class Histogram final {
public:
    static constexpr std::uint64_t kMaxMicros = 60'000'000;  // 60 s

    Histogram();

    void Record(std::uint64_t micros);
    /// Adds every count of `other` (same layout): histograms of threads or seconds combine.
    void Merge(const Histogram& other);
    void Reset();

    std::uint64_t Count() const { return count_; }
    std::uint64_t Max() const { return max_; }
    std::uint64_t Min() const { return count_ == 0 ? 0 : min_; }
    double Mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }
    /// The value at `percentile` (0..100): the highest value equivalent to the bucket that holds
    /// it (never above Max()), so it is at most 0.1% above the exact one. 0 when empty.
    std::uint64_t Percentile(double percentile) const;

    /// Bucket index and its highest equivalent value; public for the tests.
    static std::size_t IndexOf(std::uint64_t micros);
    static std::uint64_t HighestEquivalent(std::size_t index);

private:
    static constexpr int kSubBits = 11;  // 2048 values exact, then 1024 per power of two
    static constexpr std::size_t kSub = std::size_t{1} << kSubBits;
    static constexpr std::size_t kHalf = kSub / 2;
    static constexpr int kPowers = 15;  // 2048 * 2^15 > kMaxMicros
    static constexpr std::size_t kBuckets = kSub + kPowers * kHalf;

    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    std::uint64_t max_ = 0;
};

}  // namespace keel::load
