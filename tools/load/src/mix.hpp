#pragma once
// The shopper's steps and their weights (--mix list=20,search=10,...).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

namespace keel::load {

/// What a virtual user does in one step. kOrder places an order (Idempotency-Key) and polls it
/// to a final state; its poll requests are recorded as kOrderPoll. kStatic: --scenario static.
enum class Step : std::uint8_t { kList, kSearch, kProduct, kRecs, kOrder, kOrderPoll, kStatic };
inline constexpr std::size_t kStepCount = 7;
inline constexpr std::size_t kChosenSteps = 5;  // kOrderPoll is never chosen by the mix

std::string_view StepName(Step step);

/// Weights per chosen step; Pick maps a uniform number in [0, Total()) to a step.
struct Mix {
    std::array<std::uint32_t, kChosenSteps> weights{};

    std::uint32_t Total() const;
    Step Pick(std::uint32_t ticket) const;
    std::string ToString() const;
};

/// The documented default: list=20,search=10,product=35,recs=15,order=20.
Mix DefaultMix();

/// Parses "name=weight,..." (names of Step; unnamed steps get 0). Errors: unknown or repeated
/// name, weight not an integer in 0..1000000, all weights 0; the message says which.
boost::system::result<Mix, std::string> ParseMix(std::string_view text);

}  // namespace keel::load
