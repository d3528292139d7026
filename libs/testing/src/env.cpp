#include <keel/testing/env.hpp>

namespace keel::testing {

core::EnvConfig EnvFrom(std::map<std::string, std::string> variables) {
    return core::EnvConfig(
        [variables = std::move(variables)](const std::string& name) -> std::optional<std::string> {
            const auto found = variables.find(name);
            if (found == variables.end()) return std::nullopt;
            return found->second;
        });
}

}  // namespace keel::testing
