#include <keel/resilience/clock.hpp>

namespace keel::resilience {
namespace {

class RealSteadyClock final : public Clock {
public:
    TimePoint Now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace

std::shared_ptr<const Clock> SteadyClock() {
    static const auto clock = std::make_shared<const RealSteadyClock>();
    return clock;
}

}  // namespace keel::resilience
