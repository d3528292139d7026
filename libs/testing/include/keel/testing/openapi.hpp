#pragma once
#include <set>
#include <string>
#include <utility>

#include <keel/http/router.hpp>

namespace keel::testing {

/// (METHOD, path) pairs of an OpenAPI 3 document's `paths`, e.g. ("POST", "/api/auth/login").
std::set<std::pair<std::string, std::string>> OpenApiOperations(const std::string& file);

/// The same pairs for a router's routes.
std::set<std::pair<std::string, std::string>> RouterOperations(const http::Router& router);

}  // namespace keel::testing
