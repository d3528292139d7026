#include "routes.hpp"

#include <exception>
#include <stdexcept>

#include <boost/json/array.hpp>

#include <keel/core/unavailable.hpp>
#include <keel/core/uuid.hpp>
#include <keel/http/json_body.hpp>

namespace keel::catalog {
namespace {

using http::HttpError;
using http::RequestContext;
using http::Response;
using http::Status;

constexpr int kDefaultLimit = 20;
constexpr int kMaxLimit = 100;
constexpr std::size_t kMaxInternalIds = 100;

std::string RequireId(std::string_view text) {
    if (!Uuid::Parse(text)) throw HttpError(Status::bad_request, "product id must be a UUID");
    return std::string(text);
}

Task<Response> List(std::shared_ptr<CatalogContext> ctx, RequestContext& req) {
    const auto query = req.Query("q").value_or("");
    if (query.size() > 200) throw HttpError(Status::bad_request, "q must be at most 200 bytes");
    if (query.find('\0') != std::string::npos)
        throw HttpError(Status::bad_request, "q must not contain NUL");
    const auto cursor = req.Query("cursor").value_or("");
    if (!cursor.empty() && !Uuid::Parse(cursor))
        throw HttpError(Status::bad_request, "cursor is not valid");
    auto page = co_await ctx->store->List(query, cursor,
                                          req.QueryInt("limit", kDefaultLimit, 1, kMaxLimit));
    boost::json::array items;
    for (const auto& p : page.items) items.push_back(ToJsonObject(p));
    boost::json::object body{{"items", std::move(items)}};
    if (page.next_cursor)
        body["next_cursor"] = *page.next_cursor;
    else
        body["next_cursor"] = nullptr;
    co_return http::JsonText(Status::ok, http::ToJson(body));
}

Response CachedJson(std::string json, const char* cache) {
    Response r = http::JsonText(Status::ok, std::move(json));
    r.set("X-Cache", cache);
    return r;
}

Task<Response> Get(std::shared_ptr<CatalogContext> ctx, RequestContext& req) {
    const auto id = RequireId(req.Param("id"));
    if (auto local = ctx->cache->GetLocal(id)) co_return CachedJson(std::move(*local), "hit");
    if (auto cached = co_await ctx->cache->Get(id)) co_return CachedJson(std::move(*cached), "hit");
    std::optional<Product> product;
    std::exception_ptr outage;
    try {
        product = co_await ctx->store->Get(id);
    } catch (const UnavailableError&) {
        outage = std::current_exception();
    }
    if (outage) {
        // Better an old product, said to be old, than none (RFC 9111's stale-if-error).
        auto stale = ctx->cache->GetStale(id);
        if (!stale) std::rethrow_exception(outage);
        Response r = CachedJson(std::move(*stale), "stale");
        r.set(http::beast_http::field::warning, kStaleWarning);
        co_return r;
    }
    if (!product) throw HttpError(Status::not_found, "no product with id " + id);
    auto json = ToJson(*product);
    co_await ctx->cache->Put(id, json);
    co_return CachedJson(std::move(json), "miss");
}

// {sku, name, description?, price_minor, currency, stock}, read strictly: every
// problem in one 422.
Product ReadProductInput(const http::Request& request) {
    auto body = http::ParseJsonObject(request);
    http::ObjectReader reader(body);
    auto sku = reader.String("sku", true, 1, 64);
    auto name = reader.String("name", true, 1, 200);
    auto description = reader.String("description", false, 0, 4000);
    auto price = reader.Int("price_minor", true, 0, 1'000'000'000'000LL);
    auto currency = reader.String("currency", true, 3, 3);
    auto stock = reader.Int("stock", true, 0, 1'000'000'000);
    if (currency && !IsCurrencyCode(*currency))
        reader.AddProblem("currency", "must be an ISO 4217 code such as EUR");
    reader.Finish();  // throws unless every required field is there
    if (!sku || !name || !price || !currency || !stock)
        throw std::logic_error("product input accepted without a required field");
    Product p;
    p.sku = std::move(*sku);
    p.name = std::move(*name);
    p.description = std::move(description).value_or("");
    p.price_minor = *price;
    p.currency = std::move(*currency);
    p.stock = *stock;
    return p;
}

void ThrowOnFailure(ProductStore::WriteOutcome outcome, const std::string& id) {
    if (outcome == ProductStore::WriteOutcome::kNotFound)
        throw HttpError(Status::not_found, "no product with id " + id);
    if (outcome == ProductStore::WriteOutcome::kSkuTaken) {
        throw HttpError(Status::conflict, "another product already has this sku");
    }
}

Task<Response> Create(std::shared_ptr<CatalogContext> ctx, RequestContext& req) {
    auto product = ReadProductInput(req.Req());
    ThrowOnFailure(co_await ctx->store->Create(product), product.id);
    Response r = http::JsonText(Status::created, ToJson(product));
    r.set(http::beast_http::field::location, "/api/catalog/products/" + product.id);
    co_return r;
}

Task<Response> Update(std::shared_ptr<CatalogContext> ctx, RequestContext& req) {
    const auto id = RequireId(req.Param("id"));
    auto product = ReadProductInput(req.Req());
    product.id = id;
    ThrowOnFailure(co_await ctx->store->Update(product), id);
    co_await ctx->cache->Invalidate(id);
    co_return http::JsonText(Status::ok, ToJson(product));
}

Task<Response> Delete(std::shared_ptr<CatalogContext> ctx, RequestContext& req) {
    const auto id = RequireId(req.Param("id"));
    ThrowOnFailure(co_await ctx->store->Delete(id), id);
    co_await ctx->cache->Invalidate(id);
    Response r{Status::no_content, 11};
    r.prepare_payload();
    co_return r;
}

Task<Response> InternalMany(std::shared_ptr<CatalogContext> ctx, RequestContext& req) {
    const auto text = req.Query("ids").value_or("");
    std::vector<std::string> ids;
    std::size_t start = 0;
    while (start < text.size()) {
        auto comma = text.find(',', start);
        if (comma == std::string::npos) comma = text.size();
        ids.push_back(RequireId(std::string_view(text).substr(start, comma - start)));
        start = comma + 1;
    }
    if (ids.empty() || ids.size() > kMaxInternalIds) {
        throw HttpError(Status::bad_request,
                        "ids must list 1 to 100 product ids separated by commas");
    }
    boost::json::array items;
    for (const auto& p : co_await ctx->store->GetMany(ids)) items.push_back(ToJsonObject(p));
    co_return http::JsonText(Status::ok,
                             http::ToJson(boost::json::object{{"items", std::move(items)}}));
}

Task<Response> StockCheck(std::shared_ptr<CatalogContext> ctx, RequestContext&) {
    const auto summary = co_await ctx->reservations->Summarize();
    boost::json::object counts;
    counts["reserved"] = summary.reserved;
    counts["rejected"] = summary.rejected;
    counts["released"] = summary.released;
    counts["tombstones"] = summary.tombstones;
    boost::json::object body;
    body["reserved_units"] = summary.reserved_units;
    body["reservations"] = std::move(counts);
    co_return http::JsonText(Status::ok, http::ToJson(body));
}

}  // namespace

http::Router MakeRouter(const std::shared_ptr<CatalogContext>& ctx) {
    using http::Access;
    using http::Verb;
    http::Router router;
    router.Add(Verb::get, "/api/catalog/products", Access::kPublic, http::Bind(List, ctx));
    router.Add(Verb::get, "/api/catalog/products/{id}", Access::kPublic, http::Bind(Get, ctx));
    router.Add(Verb::post, "/api/catalog/products", Access::kAdmin, http::Bind(Create, ctx));
    router.Add(Verb::put, "/api/catalog/products/{id}", Access::kAdmin, http::Bind(Update, ctx));
    router.Add(Verb::delete_, "/api/catalog/products/{id}", Access::kAdmin,
               http::Bind(Delete, ctx));
    router.Add(Verb::get, "/internal/products", Access::kService, http::Bind(InternalMany, ctx));
    router.Add(Verb::get, "/internal/stock/check", Access::kService, http::Bind(StockCheck, ctx));
    return router;
}

}  // namespace keel::catalog
