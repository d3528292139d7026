#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "co_purchases.hpp"

namespace keel::recommendations {
namespace {

TEST(DistinctProductIds, DeduplicatesNormalisesAndSkipsNonUuids) {
    const auto payload = boost::json::parse(R"({"items":[
        {"product_id":"00000000-0000-4000-8000-00000000000B","quantity":1,"unit_price":5},
        {"product_id":"00000000-0000-4000-8000-000000000001","quantity":2,"unit_price":5},
        {"product_id":"00000000-0000-4000-8000-00000000000b","quantity":1,"unit_price":5},
        {"product_id":"not-a-uuid","quantity":1,"unit_price":5}]})");
    const std::vector<std::string> expected = {"00000000-0000-4000-8000-000000000001",
                                               "00000000-0000-4000-8000-00000000000b"};
    EXPECT_EQ(DistinctProductIds(payload), expected);
}

TEST(DistinctProductIds, EmptyOrder) {
    EXPECT_TRUE(DistinctProductIds(boost::json::parse(R"({"items":[]})")).empty());
}

}  // namespace
}  // namespace keel::recommendations
