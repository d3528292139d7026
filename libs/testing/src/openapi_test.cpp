#include <keel/testing/openapi.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace keel::testing {
namespace {

Task<http::Response> Nothing(http::RequestContext&) { co_return http::Response{}; }

// A document of two operations, in a temporary file removed with this.
class Document final {
public:
    Document() {
        std::ofstream(path_) << "openapi: 3.0.3\n"
                                "paths:\n"
                                "  /api/things:\n"
                                "    parameters: []\n"
                                "    get: {responses: {'200': {description: ok}}}\n"
                                "    post: {responses: {'201': {description: ok}}}\n";
    }
    ~Document() { std::remove(path_.c_str()); }
    const std::string& Path() const { return path_; }

private:
    std::string path_ = "/tmp/keel-openapi-test-" + std::to_string(::getpid()) + ".yaml";
};

TEST(MatchesOpenApi, NamesWhatEachSideLacks) {
    const Document doc;
    http::Router router;
    router.Add(http::Verb::get, "/api/things", http::Access::kPublic, Nothing);
    router.Add(http::Verb::post, "/api/things", http::Access::kUser, Nothing);
    EXPECT_TRUE(MatchesOpenApi(router, doc.Path()));

    router.Add(http::Verb::get, "/api/extra", http::Access::kPublic, Nothing);
    const auto extra = MatchesOpenApi(router, doc.Path());
    EXPECT_FALSE(extra);
    EXPECT_NE(std::string(extra.message()).find(": GET /api/extra."), std::string::npos)
        << extra.message();

    http::Router partial;
    partial.Add(http::Verb::get, "/api/things", http::Access::kPublic, Nothing);
    const auto missing = MatchesOpenApi(partial, doc.Path());
    EXPECT_FALSE(missing);
    EXPECT_NE(std::string(missing.message()).find("without a route: POST /api/things."),
              std::string::npos)
        << missing.message();
}

TEST(MatchesOpenApi, ReadsPathsRelativeToTheSourceTree) {
    const auto result = MatchesOpenApi(http::Router{}, "services/auth/openapi.yaml");
    EXPECT_FALSE(result);
    EXPECT_NE(std::string(result.message())
                  .find("operations of services/auth/openapi.yaml without a route: "),
              std::string::npos)
        << result.message();
}

}  // namespace
}  // namespace keel::testing
