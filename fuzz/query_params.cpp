// Query and path parameter parsing of libs/http: PercentDecode, RequestContext::Query
// and QueryInt over an arbitrary request target, Router::Find over an arbitrary path.
// Input: the request target (what follows the method on the request line).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <keel/http/router.hpp>

#include "fuzz_check.hpp"

namespace http = keel::http;

namespace {

const http::Router& Routes() {
    static const http::Router router = [] {
        http::Router r;
        const http::Handler none;  // never called here
        r.Add(http::Verb::get, "/api/catalog/products", http::Access::kPublic, none);
        r.Add(http::Verb::get, "/api/catalog/products/{id}", http::Access::kPublic, none);
        r.Add(http::Verb::put, "/api/catalog/products/{id}", http::Access::kAdmin, none);
        r.Add(http::Verb::get, "/api/orders/{order_id}/items/{item_id}", http::Access::kUser, none);
        r.Add(http::Verb::post, "/internal/{service}/{op}", http::Access::kService, none);
        r.Add(http::Verb::get, "/", http::Access::kPublic, none);
        return r;
    }();
    return router;
}

std::size_t ParamCount(const http::Router::Route& route) {
    std::size_t n = 0;
    for (const auto& segment : route.segments)
        if (segment.size() > 2 && segment.front() == '{' && segment.back() == '}') ++n;
    return n;
}

void CheckDecode(std::string_view text, bool plus_is_space) {
    const auto decoded = http::PercentDecode(text, plus_is_space);
    if (!decoded) {
        KEEL_FUZZ_CHECK(text.find('%') != std::string_view::npos);
        return;
    }
    KEEL_FUZZ_CHECK(decoded->size() <= text.size());
    if (text.find('%') == std::string_view::npos) {
        KEEL_FUZZ_CHECK(decoded->size() == text.size());
        for (std::size_t i = 0; i < text.size(); ++i)
            KEEL_FUZZ_CHECK((*decoded)[i] == (plus_is_space && text[i] == '+' ? ' ' : text[i]));
    }
}

void CheckQuery(const http::RequestContext& ctx, std::string_view name) {
    try {
        const auto value = ctx.Query(name);
        if (value) KEEL_FUZZ_CHECK(ctx.Req().target().find('?') != std::string_view::npos);
    } catch (const http::HttpError& e) {
        KEEL_FUZZ_CHECK(e.GetStatus() == http::Status::bad_request);
    }
    try {
        const int value = ctx.QueryInt(name, -7, 1, 100);
        KEEL_FUZZ_CHECK(value == -7 || (value >= 1 && value <= 100));
    } catch (const http::HttpError& e) {
        KEEL_FUZZ_CHECK(e.GetStatus() == http::Status::bad_request);
    }
}

void CheckRoute(http::Verb method, std::string_view path) {
    std::vector<std::pair<std::string_view, std::string_view>> params;
    const auto match = Routes().Find(method, path, params);
    if (!match.route) {
        KEEL_FUZZ_CHECK(match.path_known == !match.allow.empty());
        return;
    }
    KEEL_FUZZ_CHECK(match.route->method == method);
    KEEL_FUZZ_CHECK(params.size() == ParamCount(*match.route));
    for (const auto& param : params) {
        KEEL_FUZZ_CHECK(!param.second.empty());
        KEEL_FUZZ_CHECK(param.second.find('/') == std::string_view::npos);
        // A view into the path, not into a temporary.
        KEEL_FUZZ_CHECK(param.second.data() >= path.data() &&
                        param.second.data() + param.second.size() <= path.data() + path.size());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    CheckDecode(input, true);
    CheckDecode(input, false);

    http::Request request{http::Verb::get, input, 11};
    const http::RequestContext ctx(request, "fuzz", "127.0.0.1");
    for (const std::string_view name : {"limit", "q", "cursor", "", "a b"}) CheckQuery(ctx, name);
    // Also the first key of the query itself, so matches happen whatever the input.
    const auto q = input.find('?');
    if (q != std::string_view::npos) {
        const auto rest = input.substr(q + 1);
        CheckQuery(ctx, rest.substr(0, rest.find_first_of("=&")));
    }

    const std::string_view path = q == std::string_view::npos ? input : input.substr(0, q);
    for (const auto method : {http::Verb::get, http::Verb::put, http::Verb::post})
        CheckRoute(method, path);
    return 0;
}
