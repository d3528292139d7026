#pragma once
#include <map>
#include <string>

#include <keel/core/config.hpp>

namespace keel::testing {

/// An EnvConfig reading `variables` instead of the process environment (settings tests).
core::EnvConfig EnvFrom(std::map<std::string, std::string> variables);

}  // namespace keel::testing
