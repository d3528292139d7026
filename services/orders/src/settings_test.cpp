#include <gtest/gtest.h>

#include <map>

#include "settings.hpp"

namespace keel::orders {
namespace {

using Vars = std::map<std::string, std::string>;

// The variables every service needs, and orders' own.
Vars Required() {
    return {{"PG_DSN", "postgresql://orders@127.0.0.1/orders"},
            {"KEEL_SERVICE_TOKEN", "service-token"},
            {"AUTH_JWKS_URL", "http://127.0.0.1:1/jwks"},
            {"CATALOG_URL", "http://127.0.0.1:8081/catalog"}};
}

core::EnvConfig Env(Vars vars) {
    return core::EnvConfig([vars](const std::string& name) -> std::optional<std::string> {
        const auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    });
}

// The problems ReadSettings refuses `vars` with ({} when it accepts them).
std::vector<std::string> Problems(Vars vars) {
    auto config = Env(std::move(vars));
    try {
        ReadSettings(config);
    } catch (const core::ConfigError& e) {
        return e.Problems();
    }
    return {};
}

bool Names(const std::vector<std::string>& problems, const std::string& variable) {
    for (const auto& p : problems)
        if (p.starts_with(variable)) return true;
    return false;
}

TEST(Settings, Defaults) {
    auto config = Env(Required());
    const auto s = ReadSettings(config);
    EXPECT_EQ(s.common.service, "orders");
    EXPECT_EQ(s.tokens.jwks_url, "http://127.0.0.1:1/jwks");
    EXPECT_EQ(s.tokens.verify.issuer, "keel-auth");
    EXPECT_EQ(s.catalog.base_url, "http://127.0.0.1:8081/catalog");
    EXPECT_EQ(s.catalog.deadline, std::chrono::milliseconds(2000));
    EXPECT_EQ(s.pending.timeout, std::chrono::seconds(30));
    EXPECT_EQ(s.pending.sweep_interval, std::chrono::milliseconds(1000));
}

TEST(Settings, PendingDeadlineAndSweepInterval) {
    auto vars = Required();
    vars["ORDER_PENDING_TIMEOUT_S"] = "120";
    vars["ORDER_SWEEP_INTERVAL_MS"] = "250";
    auto config = Env(vars);
    const auto s = ReadSettings(config);
    EXPECT_EQ(s.pending.timeout, std::chrono::seconds(120));
    EXPECT_EQ(s.pending.sweep_interval, std::chrono::milliseconds(250));

    vars["ORDER_PENDING_TIMEOUT_S"] = "0";
    vars["ORDER_SWEEP_INTERVAL_MS"] = "soon";
    const auto problems = Problems(vars);
    EXPECT_TRUE(Names(problems, "ORDER_PENDING_TIMEOUT_S"));
    EXPECT_TRUE(Names(problems, "ORDER_SWEEP_INTERVAL_MS"));
}

TEST(Settings, CatalogUrlLosesItsTrailingSlash) {
    auto vars = Required();
    vars["CATALOG_URL"] = "http://catalog:8080/";
    vars["CATALOG_DEADLINE_MS"] = "750";
    auto config = Env(vars);
    const auto s = ReadSettings(config);
    EXPECT_EQ(s.catalog.base_url, "http://catalog:8080");
    EXPECT_EQ(s.catalog.deadline, std::chrono::milliseconds(750));
}

TEST(Settings, RefusesMissingAndMalformedValuesNamingThem) {
    auto vars = Required();
    vars.erase("CATALOG_URL");
    vars["CATALOG_DEADLINE_MS"] = "soon";
    auto problems = Problems(vars);
    EXPECT_EQ(problems.size(), 2u);
    EXPECT_TRUE(Names(problems, "CATALOG_URL"));
    EXPECT_TRUE(Names(problems, "CATALOG_DEADLINE_MS"));

    for (const char* bad : {"catalog:8080", "https://catalog", "http://", "http:///internal",
                            "http://catalog?x=1", "http://cat alog"}) {
        vars = Required();
        vars["CATALOG_URL"] = bad;
        problems = Problems(vars);
        EXPECT_EQ(problems.size(), 1u) << bad;
        EXPECT_TRUE(Names(problems, "CATALOG_URL='" + std::string(bad) + "'")) << bad;
    }

    // Every problem at once: the common ones and orders' own.
    vars = Required();
    vars.erase("PG_DSN");
    vars["CATALOG_URL"] = "ftp://catalog";
    vars["CATALOG_DEADLINE_MS"] = "10";
    problems = Problems(vars);
    EXPECT_EQ(problems.size(), 3u);
    EXPECT_TRUE(Names(problems, "PG_DSN"));
    EXPECT_TRUE(Names(problems, "CATALOG_URL"));
    EXPECT_TRUE(Names(problems, "CATALOG_DEADLINE_MS"));
}

TEST(Settings, CheckCatalogUrl) {
    EXPECT_EQ(CheckCatalogUrl("http://127.0.0.1:8081"), std::nullopt);
    EXPECT_EQ(CheckCatalogUrl("http://gateway/internal-api/catalog"), std::nullopt);
    EXPECT_NE(CheckCatalogUrl("https://catalog"), std::nullopt);
}

}  // namespace
}  // namespace keel::orders
