#include <keel/resilience/backoff.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace keel::resilience {
namespace {

using namespace std::chrono_literals;

std::vector<std::chrono::milliseconds> Waits(BackoffOptions options, std::uint64_t seed, int n) {
    Backoff backoff(options, seed);
    std::vector<std::chrono::milliseconds> waits;
    for (int i = 0; i < n; ++i) waits.push_back(backoff.Next());
    return waits;
}

TEST(Backoff, TheSameSeedGivesTheSameWaits) {
    EXPECT_EQ(Waits({}, 42, 20), Waits({}, 42, 20));
    EXPECT_NE(Waits({}, 42, 20), Waits({}, 43, 20));
}

TEST(Backoff, FullJitterStaysUnderTheDoublingCeilingAndTheCap) {
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        const auto waits = Waits(BackoffOptions{25ms, 1000ms, Jitter::kFull}, seed, 12);
        std::chrono::milliseconds ceiling = 25ms;
        for (const auto wait : waits) {
            EXPECT_GE(wait, 0ms);
            EXPECT_LE(wait, std::min(ceiling, 1000ms));
            ceiling *= 2;
        }
    }
    // Past the cap the waits spread over [0, cap], not clustered low.
    const auto late = Waits(BackoffOptions{25ms, 1000ms, Jitter::kFull}, 7, 200);
    EXPECT_GT(*std::max_element(late.begin() + 10, late.end()), 800ms);
}

TEST(Backoff, DecorrelatedJitterStaysBetweenBaseAndCap) {
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
        for (const auto wait :
             Waits(BackoffOptions{25ms, 1000ms, Jitter::kDecorrelated}, seed, 30)) {
            EXPECT_GE(wait, 25ms);
            EXPECT_LE(wait, 1000ms);
        }
    }
    EXPECT_EQ(Waits(BackoffOptions{400ms, 400ms, Jitter::kDecorrelated}, 1, 3),
              (std::vector<std::chrono::milliseconds>{400ms, 400ms, 400ms}));
}

}  // namespace
}  // namespace keel::resilience
