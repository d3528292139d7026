#include <gtest/gtest.h>

#include "product.hpp"

namespace keel::catalog {
namespace {

TEST(Product, JsonHasEveryFieldOfTheApi) {
    const Product p{
        "0190a5a4-0000-7000-8000-000000000001", "MUG-1", "Mug", "A \"big\" mug", 1250, "EUR", 7};
    EXPECT_EQ(ToJson(p),
              R"({"id":"0190a5a4-0000-7000-8000-000000000001","sku":"MUG-1","name":"Mug",)"
              R"("description":"A \"big\" mug","price_minor":1250,"currency":"EUR","stock":7})");
}

TEST(Product, CurrencyIsThreeUpperCaseLetters) {
    EXPECT_TRUE(IsCurrencyCode("EUR"));
    for (const char* bad : {"", "EU", "EURO", "eur", "E1R", "ЕUR"})
        EXPECT_FALSE(IsCurrencyCode(bad)) << bad;
}

}  // namespace
}  // namespace keel::catalog
