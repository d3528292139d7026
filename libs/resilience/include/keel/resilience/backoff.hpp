#pragma once
#include <chrono>
#include <cstdint>
#include <random>

namespace keel::resilience {

enum class Jitter {
    kFull,          ///< uniform in [0, min(cap, base × 2^attempt)]
    kDecorrelated,  ///< uniform in [base, min(cap, 3 × previous)]
};

struct BackoffOptions {
    std::chrono::milliseconds base{25};
    std::chrono::milliseconds cap{1000};
    Jitter jitter = Jitter::kFull;
};

/// The waits between one call's attempts: exponential with jitter (AWS Architecture Blog,
/// "Exponential Backoff And Jitter"), so that clients that failed together do not retry
/// together. One per call; not thread-safe. The same seed gives the same waits (tests).
class Backoff final {
public:
    Backoff(BackoffOptions options, std::uint64_t seed);
    /// The wait before the next retry.
    std::chrono::milliseconds Next();

private:
    BackoffOptions options_;
    std::mt19937_64 rng_;
    int attempt_ = 0;
    std::chrono::milliseconds previous_;
};

}  // namespace keel::resilience
