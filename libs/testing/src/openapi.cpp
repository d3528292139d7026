#include <keel/testing/openapi.hpp>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

namespace keel::testing {

std::set<std::pair<std::string, std::string>> OpenApiOperations(const std::string& file) {
    static const std::set<std::string> kMethods = {"get",   "put",  "post",   "delete",
                                                   "patch", "head", "options"};
    std::set<std::pair<std::string, std::string>> out;
    const YAML::Node doc = YAML::LoadFile(file);
    for (const auto& path : doc["paths"]) {
        for (const auto& operation : path.second) {
            auto method = operation.first.as<std::string>();
            if (!kMethods.count(method)) continue;  // parameters, summary, ...
            std::transform(method.begin(), method.end(), method.begin(),
                           [](unsigned char c) { return std::toupper(c); });
            out.emplace(method, path.first.as<std::string>());
        }
    }
    return out;
}

std::set<std::pair<std::string, std::string>> RouterOperations(const http::Router& router) {
    std::set<std::pair<std::string, std::string>> out;
    for (const auto& route : router.Routes())
        out.emplace(std::string(http::beast_http::to_string(route.method)), route.pattern);
    return out;
}

namespace {

using Operations = std::set<std::pair<std::string, std::string>>;

// "GET /a, POST /b" of the operations in `a` but not in `b`.
std::string Missing(const Operations& a, const Operations& b) {
    std::string out;
    for (const auto& operation : a) {
        if (b.count(operation)) continue;
        if (!out.empty()) out += ", ";
        out += operation.first + " " + operation.second;
    }
    return out;
}

}  // namespace

::testing::AssertionResult MatchesOpenApi(const http::Router& router,
                                          const std::string& openapi_file) {
    const auto& file = openapi_file;
    const auto served = RouterOperations(router);
    const auto documented =
        OpenApiOperations(file.starts_with("/") ? file : KEEL_SOURCE_DIR "/" + file);
    if (served == documented) return ::testing::AssertionSuccess();
    auto failure = ::testing::AssertionFailure();
    if (const auto undocumented = Missing(served, documented); !undocumented.empty())
        failure << "routes not in " << file << ": " << undocumented << ". ";
    if (const auto unserved = Missing(documented, served); !unserved.empty())
        failure << "operations of " << file << " without a route: " << unserved << ".";
    return failure;
}

}  // namespace keel::testing
