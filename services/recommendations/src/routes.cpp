#include "routes.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <keel/core/uuid.hpp>
#include <keel/http/json_body.hpp>

namespace keel::recommendations {
namespace {

using http::HttpError;
using http::RequestContext;
using http::Response;
using http::Status;

constexpr int kDefaultLimit = 10;
constexpr int kMaxLimit = 50;

Task<Response> Related(std::shared_ptr<RecommendationsContext> ctx, RequestContext& req) {
    const auto id = Uuid::Parse(req.Param("id"));
    if (!id) throw HttpError(Status::bad_request, "product id must be a UUID");
    const auto product_id = id->ToString();
    const int limit = req.QueryInt("limit", kDefaultLimit, 1, kMaxLimit);
    auto related = co_await ctx->store->Related(product_id, limit);
    boost::json::array items;
    for (const auto& r : related) {
        boost::json::object item;
        item["product_id"] = r.product_id;
        item["count"] = r.count;
        items.push_back(std::move(item));
    }
    boost::json::object body;
    body["product_id"] = product_id;
    body["items"] = std::move(items);
    co_return http::JsonText(Status::ok, http::ToJson(body));
}

}  // namespace

http::Router MakeRouter(const std::shared_ptr<RecommendationsContext>& ctx) {
    http::Router router;
    router.Add(http::Verb::get, "/api/recommendations/products/{id}", http::Access::kPublic,
               http::Bind(Related, ctx));
    return router;
}

}  // namespace keel::recommendations
