#include "mix.hpp"

#include <gtest/gtest.h>

namespace keel::load {
namespace {

TEST(Mix, DefaultIsTheDocumentedOne) {
    EXPECT_EQ(DefaultMix().ToString(), "list=20,search=10,product=35,recs=15,order=20");
    EXPECT_EQ(DefaultMix().Total(), 100u);
}

TEST(Mix, ParsesNamesInAnyOrderAndLeavesOthersAtZero) {
    const auto mix = ParseMix("order=5,product=15");
    ASSERT_TRUE(mix) << mix.error();
    EXPECT_EQ(mix->ToString(), "list=0,search=0,product=15,recs=0,order=5");
    EXPECT_EQ(mix->Total(), 20u);
}

TEST(Mix, PickFollowsTheWeights) {
    const auto mix = ParseMix("list=1,product=2,order=1");
    ASSERT_TRUE(mix);
    EXPECT_EQ(mix->Pick(0), Step::kList);
    EXPECT_EQ(mix->Pick(1), Step::kProduct);
    EXPECT_EQ(mix->Pick(2), Step::kProduct);
    EXPECT_EQ(mix->Pick(3), Step::kOrder);
    int counts[kStepCount] = {};
    for (std::uint32_t t = 0; t < DefaultMix().Total() * 10; ++t)
        ++counts[static_cast<int>(DefaultMix().Pick(t % DefaultMix().Total()))];
    EXPECT_EQ(counts[static_cast<int>(Step::kProduct)], 350);
    EXPECT_EQ(counts[static_cast<int>(Step::kOrderPoll)], 0);
}

TEST(Mix, RejectsWhatItCannotRead) {
    EXPECT_EQ(ParseMix("checkout=3").error(),
              "unknown step 'checkout' (list, search, product, recs, order)");
    EXPECT_EQ(ParseMix("list=1,list=2").error(), "step 'list' given twice");
    EXPECT_FALSE(ParseMix("list"));
    EXPECT_FALSE(ParseMix("list=-1"));
    EXPECT_FALSE(ParseMix("list=1x"));
    EXPECT_FALSE(ParseMix("list=2000000"));
    EXPECT_FALSE(ParseMix("order_poll=1"));
    EXPECT_EQ(ParseMix("list=0,order=0").error(), "the mix has no step with a weight above 0");
}

}  // namespace
}  // namespace keel::load
