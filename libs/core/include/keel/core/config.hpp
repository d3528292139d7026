#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::core {

/// Thrown by EnvConfig::Finish with every problem found, one per line.
class ConfigError final : public std::runtime_error {
public:
    explicit ConfigError(const std::vector<std::string>& problems);
    const std::vector<std::string>& Problems() const { return problems_; }

private:
    std::vector<std::string> problems_;
};

/// Typed reads of 12-factor settings from the environment. Every read records what
/// is missing or malformed instead of throwing, so that Finish() reports all of
/// them at once and the service refuses to start with one clear message.
/// Not thread-safe; use during start-up.
class EnvConfig final {
public:
    using Lookup = std::function<std::optional<std::string>(const std::string&)>;

    /// Reads the process environment.
    EnvConfig();
    /// Reads from `lookup` (tests).
    explicit EnvConfig(Lookup lookup);

    std::string String(const std::string& name, const std::optional<std::string>& fallback = {});
    /// Secrets: like String, but never echoed in errors or logs.
    std::string Secret(const std::string& name, std::optional<std::string> fallback = {});
    std::int64_t Int(const std::string& name, std::optional<std::int64_t> fallback,
                     std::int64_t min, std::int64_t max);
    std::uint16_t Port(const std::string& name, std::optional<std::uint16_t> fallback = {});
    std::chrono::milliseconds Millis(const std::string& name, std::chrono::milliseconds fallback);
    bool Bool(const std::string& name, bool fallback);
    /// One of `choices`; anything else is a problem naming the choices.
    std::string OneOf(const std::string& name, const std::vector<std::string>& choices,
                      std::string fallback);

    /// Records a problem found by the caller (settings that contradict each other).
    void AddProblem(std::string problem) { problems_.push_back(std::move(problem)); }

    /// Throws ConfigError listing every problem recorded so far.
    void Finish() const;

private:
    std::optional<std::string> Raw(const std::string& name, bool required);

    Lookup lookup_;
    std::vector<std::string> problems_;
};

}  // namespace keel::core
