#include "settings.hpp"

#include <vector>

namespace keel::orders {

std::optional<std::string> CheckCatalogUrl(const std::string& url) {
    constexpr std::string_view kScheme = "http://";
    const auto problem = [&](const std::string& what) {
        return "CATALOG_URL='" + url + "' " + what;
    };
    if (!url.starts_with(kScheme))
        return problem("is not an http:// URL (services talk plain http on the private network)");
    const auto host_end = url.find('/', kScheme.size());
    if (url.substr(kScheme.size(), host_end - kScheme.size()).empty())
        return problem("has no host");
    if (url.find_first_of("?# \t") != std::string::npos)
        return problem("must be a base URL: no query, fragment or spaces");
    return std::nullopt;
}

Settings ReadSettings(core::EnvConfig& config) {
    Settings s;
    s.common = service::ReadCommonSettings(config, "orders");
    s.tokens = service::ReadTokenSettings(config);
    s.catalog.base_url = config.String("CATALOG_URL");
    s.catalog.deadline =
        std::chrono::milliseconds(config.Int("CATALOG_DEADLINE_MS", 2000, 50, 60'000));
    s.pending.timeout = std::chrono::seconds(config.Int("ORDER_PENDING_TIMEOUT_S", 30, 1, 86'400));
    s.pending.sweep_interval =
        std::chrono::milliseconds(config.Int("ORDER_SWEEP_INTERVAL_MS", 1000, 100, 60'000));
    std::vector<std::string> problems;
    try {
        config.Finish();
    } catch (const core::ConfigError& e) {
        problems = e.Problems();
    }
    auto& url = s.catalog.base_url;
    if (!url.empty()) {
        if (auto problem = CheckCatalogUrl(url)) problems.push_back(std::move(*problem));
        while (url.ends_with('/')) url.pop_back();
    }
    if (!problems.empty()) throw core::ConfigError(problems);
    return s;
}

}  // namespace keel::orders
