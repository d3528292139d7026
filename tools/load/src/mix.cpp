#include "mix.hpp"

#include <charconv>
#include <numeric>

namespace keel::load {

namespace {
constexpr std::array<std::string_view, kStepCount> kNames = {
    "list", "search", "product", "recs", "order", "order_poll", "static"};
}

std::string_view StepName(Step step) { return kNames[static_cast<std::size_t>(step)]; }

std::uint32_t Mix::Total() const { return std::accumulate(weights.begin(), weights.end(), 0u); }

Step Mix::Pick(std::uint32_t ticket) const {
    for (std::size_t i = 0; i < kChosenSteps; ++i) {
        if (ticket < weights[i]) return static_cast<Step>(i);
        ticket -= weights[i];
    }
    return Step::kList;  // only when ticket >= Total(): a caller's bug, answered harmlessly
}

std::string Mix::ToString() const {
    std::string out;
    for (std::size_t i = 0; i < kChosenSteps; ++i) {
        if (!out.empty()) out += ',';
        out += std::string(kNames[i]) + "=" + std::to_string(weights[i]);
    }
    return out;
}

Mix DefaultMix() { return Mix{{20, 10, 35, 15, 20}}; }

boost::system::result<Mix, std::string> ParseMix(std::string_view text) {
    Mix mix;
    std::array<bool, kChosenSteps> seen{};
    while (!text.empty()) {
        const auto comma = text.find(',');
        const std::string_view item = text.substr(0, comma);
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        const auto eq = item.find('=');
        if (eq == std::string_view::npos)
            return "expected name=weight, got '" + std::string(item) + "'";
        const std::string_view name = item.substr(0, eq);
        const std::string_view number = item.substr(eq + 1);
        std::size_t index = kChosenSteps;
        for (std::size_t i = 0; i < kChosenSteps; ++i)
            if (kNames[i] == name) index = i;
        if (index == kChosenSteps)
            return "unknown step '" + std::string(name) + "' (list, search, product, recs, order)";
        if (seen[index]) return "step '" + std::string(name) + "' given twice";
        seen[index] = true;
        std::uint32_t weight = 0;
        const auto parsed = std::from_chars(number.data(), number.data() + number.size(), weight);
        if (number.empty() || parsed.ec != std::errc{} ||
            parsed.ptr != number.data() + number.size() || weight > 1'000'000)
            return "weight of '" + std::string(name) + "' must be an integer 0..1000000, got '" +
                   std::string(number) + "'";
        mix.weights[index] = weight;
    }
    if (mix.Total() == 0) return std::string("the mix has no step with a weight above 0");
    return mix;
}

}  // namespace keel::load
