#pragma once
#include <string>

#include <keel/http/router.hpp>

namespace keel::testing {

/// What a handler answered.
struct RouteReply {
    http::Status status = http::Status::internal_server_error;
    std::string body;
};

/// Calls the handler `router` has for `verb` and `target` (path and query) as the server
/// does once it has authenticated `principal`: path parameters set, `body` (when not
/// empty) sent as application/json. An HttpError becomes the problem+json body the server
/// would send; a target that no route matches, a 404 with an empty body.
Task<RouteReply> CallRoute(const http::Router& router, http::Verb verb, std::string target,
                           std::string body, http::Principal principal);

}  // namespace keel::testing
