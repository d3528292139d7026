// One connection's bytes through libs/http's request path: Beast's request_parser with
// the server's limits (pipelined requests too), PathOf + Router::Find with {params},
// then a handler that reads path and query parameters or a JSON body through
// ParseJsonObject + ObjectReader, as services do. Every response, success or problem,
// must be well-formed JSON (strict UTF-8), since clients parse it.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/json/parse.hpp>

#include <keel/http/json_body.hpp>
#include <keel/http/router.hpp>

#include "fuzz_check.hpp"

namespace http = keel::http;
namespace json = boost::json;
using keel::Task;

namespace {

constexpr std::size_t kMaxHeaderBytes = 8 * 1024;  // ServerOptions' defaults
constexpr std::size_t kMaxBodyBytes = 1024 * 1024;
constexpr int kMaxPipelined = 4;

// Handlers answer with sizes, not the raw text: Boost.JSON's serializer copies
// invalid UTF-8 through, and services validate ids before they echo them.
Task<http::Response> GetItem(http::RequestContext& ctx) {
    json::object out;
    out["id_bytes"] = ctx.Param("id").size();
    if (auto q = ctx.Query("q")) out["q_bytes"] = q->size();
    out["limit"] = ctx.QueryInt("limit", 20, 1, 100);
    co_return http::JsonText(http::Status::ok, http::ToJson(out));
}

Task<http::Response> PutNested(http::RequestContext& ctx) {
    json::object out;
    out["user_bytes"] = ctx.Param("user_id").size();
    out["item_bytes"] = ctx.Param("item_id").size();
    KEEL_FUZZ_CHECK(!ctx.Param("user_id").empty() && !ctx.Param("item_id").empty());
    co_return http::JsonText(http::Status::ok, http::ToJson(out));
}

// The shape of a typical create endpoint: required and optional fields with limits.
Task<http::Response> PostItem(http::RequestContext& ctx) {
    const json::object body = http::ParseJsonObject(ctx.Req());
    http::ObjectReader reader(body);
    const auto name = reader.String("name", true, 1, 100);
    const auto quantity = reader.Int("quantity", true, 0, 1'000'000);
    const auto note = reader.String("note", false, 0, 500);
    const auto price = reader.Int("price_cents", false, -1'000'000'000, 1'000'000'000);
    if (const auto* tags = reader.Raw("tags"); tags != nullptr && !tags->is_array())
        reader.AddProblem("tags", "must be an array");
    reader.Finish();
    // Finish() throws on any problem: everything required is here.
    KEEL_FUZZ_CHECK(name && quantity);
    KEEL_FUZZ_CHECK(!name->empty() && name->size() <= 100);
    KEEL_FUZZ_CHECK(*quantity >= 0 && *quantity <= 1'000'000);
    json::object out;
    out["name"] = *name;  // from parsed JSON: valid UTF-8
    out["quantity"] = *quantity;
    if (note) out["note"] = *note;
    if (price) out["price_cents"] = *price;
    co_return http::JsonText(http::Status::created, http::ToJson(out));
}

const http::Router& Routes() {
    static const http::Router router = [] {
        http::Router r;
        r.Add(http::Verb::get, "/api/items/{id}", http::Access::kPublic, GetItem);
        r.Add(http::Verb::delete_, "/api/items/{id}", http::Access::kPublic, GetItem);
        r.Add(http::Verb::post, "/api/items", http::Access::kPublic, PostItem);
        r.Add(http::Verb::put, "/api/users/{user_id}/items/{item_id}", http::Access::kPublic,
              PutNested);
        return r;
    }();
    return router;
}

void CheckJsonBody(const http::Response& response) {
    boost::system::error_code ec;
    const json::value body = json::parse(response.body(), ec);
    if (ec) {
        std::fprintf(stderr, "response %u is not JSON (%s): %s\n", response.result_int(),
                     ec.message().c_str(), response.body().c_str());
    }
    KEEL_FUZZ_CHECK(!ec);
    KEEL_FUZZ_CHECK(body.is_object());
}

// What Server::Impl::Dispatch does for a routed request, minus auth and built-ins.
http::Response Dispatch(const http::Request& request) {
    const std::string_view target = request.target();
    const std::string_view path = target.substr(0, target.find('?'));
    std::vector<std::pair<std::string_view, std::string_view>> params;
    const auto match = Routes().Find(request.method(), path, params);
    if (!match.route) {
        if (match.path_known) return http::Problem(http::Status::method_not_allowed, "method");
        return http::Problem(http::Status::not_found, "no route for " + std::string(path));
    }
    http::RequestContext ctx(request, "fuzz", "127.0.0.1");
    ctx.SetParamsForRouter(std::move(params));
    // The handlers never suspend, so one run() completes them.
    static asio::io_context io;
    std::optional<http::Response> response;
    std::exception_ptr error;
    asio::co_spawn(io, match.route->handler(ctx),
                   [&response, &error](std::exception_ptr e, http::Response r) {
                       error = e;
                       if (!e) response = std::move(r);
                   });
    io.restart();
    io.run();
    if (error) {
        try {
            std::rethrow_exception(error);
        } catch (const http::HttpError& e) {
            return http::Problem(e.GetStatus(), e.Detail(), e.ExtraMembers());
        }
        // Anything else escapes: a handler helper threw what the server maps to 500.
    }
    KEEL_FUZZ_CHECK(response.has_value());
    return std::move(*response);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::size_t offset = 0;
    for (int i = 0; i < kMaxPipelined && offset < size; ++i) {
        http::beast_http::request_parser<http::beast_http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
        parser.body_limit(kMaxBodyBytes);
        parser.eager(true);
        boost::system::error_code ec;
        while (offset < size && !parser.is_done()) {
            const std::size_t used = parser.put(asio::buffer(data + offset, size - offset), ec);
            offset += used;
            if (ec || used == 0) break;
        }
        if (ec == http::beast_http::error::need_more) {
            parser.put_eof(ec);  // the peer closed: what is buffered is all there is
        }
        if (ec || !parser.is_done()) {
            // The server answers a read failure with a problem, also JSON.
            CheckJsonBody(http::Problem(http::Status::bad_request,
                                        "malformed HTTP request: " + ec.message()));
            return 0;
        }
        CheckJsonBody(Dispatch(parser.get()));
        if (!parser.get().keep_alive()) break;
    }
    return 0;
}
