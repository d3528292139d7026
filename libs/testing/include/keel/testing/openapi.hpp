#pragma once
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>

#include <keel/http/router.hpp>

namespace keel::testing {

/// (METHOD, path) pairs of an OpenAPI 3 document's `paths`, e.g. ("POST", "/api/auth/login").
std::set<std::pair<std::string, std::string>> OpenApiOperations(const std::string& file);

/// The same pairs for a router's routes.
std::set<std::pair<std::string, std::string>> RouterOperations(const http::Router& router);

/// Success when `router` serves exactly the operations of `openapi_file` (relative to
/// the source tree unless absolute); otherwise a message naming the routes the document
/// lacks and the operations without a route:
/// `EXPECT_TRUE(MatchesOpenApi(MakeRouter(ctx), "services/auth/openapi.yaml"))`.
::testing::AssertionResult MatchesOpenApi(const http::Router& router,
                                          const std::string& openapi_file);

}  // namespace keel::testing
