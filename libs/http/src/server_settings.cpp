#include <keel/http/server.hpp>

namespace keel::http {
namespace {

// A timeout of 0 would close every connection at once; an hour is already absurd.
std::chrono::milliseconds Timeout(core::EnvConfig& config, const std::string& name,
                                  std::chrono::milliseconds fallback) {
    return std::chrono::milliseconds(config.Int(name, fallback.count(), 1, 3'600'000));
}

}  // namespace

void ReadServerSettings(core::EnvConfig& config, ServerOptions& options) {
    options.idle_timeout = Timeout(config, "HTTP_IDLE_TIMEOUT_MS", options.idle_timeout);
    options.header_timeout = Timeout(config, "HTTP_HEADER_TIMEOUT_MS", options.header_timeout);
    options.body_timeout = Timeout(config, "HTTP_BODY_TIMEOUT_MS", options.body_timeout);
    options.write_timeout = Timeout(config, "HTTP_WRITE_TIMEOUT_MS", options.write_timeout);
    options.request_timeout = Timeout(config, "HTTP_REQUEST_TIMEOUT_MS", options.request_timeout);
    const std::string proxies = config.String("TRUSTED_PROXIES", "127.0.0.0/8,::1");
    std::string error;
    std::optional<std::vector<AddressRange>> ranges;
    if (proxies == "none")
        ranges.emplace();
    else
        ranges = ParseAddressRanges(proxies, error);
    if (ranges) {
        options.trusted_proxies = std::move(*ranges);
        return;
    }
    // EnvConfig records only its own kinds of problem: report this one with those so far.
    std::vector<std::string> problems;
    try {
        config.Finish();
    } catch (const core::ConfigError& e) {
        problems = e.Problems();
    }
    problems.push_back("TRUSTED_PROXIES: " + error);
    throw core::ConfigError(problems);
}

void ReadServerEnv(ServerOptions& options) {
    core::EnvConfig config;
    ReadServerSettings(config, options);
    config.Finish();
}

}  // namespace keel::http
