#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace keel::load {

Histogram::Histogram() : counts_(kBuckets, 0) {}

std::size_t Histogram::IndexOf(std::uint64_t micros) {
    if (micros < kSub) return static_cast<std::size_t>(micros);
    // micros is in [1024 * 2^k, 2048 * 2^k): its power k and 1024 linear steps of 2^k.
    const int k = std::bit_width(micros) - kSubBits;
    const std::uint64_t sub = micros >> k;  // [1024, 2048)
    return kSub + static_cast<std::size_t>(k - 1) * kHalf + static_cast<std::size_t>(sub - kHalf);
}

std::uint64_t Histogram::HighestEquivalent(std::size_t index) {
    if (index < kSub) return index;
    const std::size_t k = (index - kSub) / kHalf + 1;
    const std::uint64_t sub = (index - kSub) % kHalf + kHalf;
    return ((sub + 1) << k) - 1;
}

void Histogram::Record(std::uint64_t micros) {
    micros = std::min(micros, kMaxMicros);
    ++counts_[IndexOf(micros)];
    ++count_;
    sum_ += micros;
    min_ = std::min(min_, micros);
    max_ = std::max(max_, micros);
}

void Histogram::Merge(const Histogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

void Histogram::Reset() {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = sum_ = max_ = 0;
    min_ = UINT64_MAX;
}

std::uint64_t Histogram::Percentile(double percentile) const {
    if (count_ == 0) return 0;
    percentile = std::clamp(percentile, 0.0, 100.0);
    // The rank of the value (1-based): the smallest value with at least that many at or below.
    auto rank = static_cast<std::uint64_t>(std::ceil(percentile / 100.0 * count_));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += counts_[i];
        if (seen >= rank) return std::min(HighestEquivalent(i), max_);
    }
    return max_;
}

}  // namespace keel::load
