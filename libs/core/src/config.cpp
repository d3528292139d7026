#include <keel/core/config.hpp>

#include <charconv>
#include <cstdlib>

namespace keel::core {
namespace {

std::string JoinProblems(const std::vector<std::string>& problems) {
    std::string text = "invalid configuration:";
    for (const auto& p : problems) {
        text += "\n  - ";
        text += p;
    }
    return text;
}

}  // namespace

ConfigError::ConfigError(const std::vector<std::string>& problems)
    : std::runtime_error(JoinProblems(problems)), problems_(problems) {}

EnvConfig::EnvConfig()
    : EnvConfig([](const std::string& name) -> std::optional<std::string> {
          const char* value = std::getenv(name.c_str());
          if (value == nullptr) return std::nullopt;
          return std::string(value);
      }) {}

EnvConfig::EnvConfig(Lookup lookup) : lookup_(std::move(lookup)) {}

std::optional<std::string> EnvConfig::Raw(const std::string& name, bool required) {
    auto value = lookup_(name);
    if (value && value->empty()) value.reset();
    if (!value && required) problems_.push_back(name + " is required but not set");
    return value;
}

std::string EnvConfig::String(const std::string& name, const std::optional<std::string>& fallback) {
    auto value = Raw(name, !fallback.has_value());
    if (value) return *value;
    return fallback.value_or("");
}

std::string EnvConfig::Secret(const std::string& name, std::optional<std::string> fallback) {
    return String(name, std::move(fallback));
}

std::int64_t EnvConfig::Int(const std::string& name, std::optional<std::int64_t> fallback,
                            std::int64_t min, std::int64_t max) {
    auto value = Raw(name, !fallback.has_value());
    if (!value) return fallback.value_or(min);
    std::int64_t parsed = 0;
    const char* end = value->data() + value->size();
    auto [ptr, ec] = std::from_chars(value->data(), end, parsed);
    if (ec != std::errc{} || ptr != end) {
        problems_.push_back(name + "='" + *value + "' is not an integer");
        return fallback.value_or(min);
    }
    if (parsed < min || parsed > max) {
        problems_.push_back(name + "=" + *value + " is out of range [" + std::to_string(min) +
                            ", " + std::to_string(max) + "]");
        return fallback.value_or(min);
    }
    return parsed;
}

std::uint16_t EnvConfig::Port(const std::string& name, std::optional<std::uint16_t> fallback) {
    std::optional<std::int64_t> wide;
    if (fallback) wide = *fallback;
    return static_cast<std::uint16_t>(Int(name, wide, 1, 65535));
}

std::chrono::milliseconds EnvConfig::Millis(const std::string& name,
                                            std::chrono::milliseconds fallback) {
    return std::chrono::milliseconds(Int(name, fallback.count(), 0, 24LL * 3600 * 1000));
}

bool EnvConfig::Bool(const std::string& name, bool fallback) {
    auto value = Raw(name, false);
    if (!value) return fallback;
    if (*value == "1" || *value == "true" || *value == "yes" || *value == "on") return true;
    if (*value == "0" || *value == "false" || *value == "no" || *value == "off") return false;
    problems_.push_back(name + "='" + *value + "' is not a boolean (true/false)");
    return fallback;
}

std::string EnvConfig::OneOf(const std::string& name, const std::vector<std::string>& choices,
                             std::string fallback) {
    auto value = Raw(name, false);
    if (!value) return fallback;
    for (const auto& choice : choices) {
        if (*value == choice) return *value;
    }
    std::string list;
    for (const auto& choice : choices) list += (list.empty() ? "" : "|") + choice;
    problems_.push_back(name + "='" + *value + "' is not one of " + list);
    return fallback;
}

void EnvConfig::Finish() const {
    if (!problems_.empty()) throw ConfigError(problems_);
}

}  // namespace keel::core
