#include <gtest/gtest.h>

#include "ledger.hpp"

namespace keel::payments {
namespace {

TEST(Ledger, AccountNames) {
    EXPECT_EQ(WalletAccount("0190a5a4-0000-7000-8000-000000000002"),
              "wallet:0190a5a4-0000-7000-8000-000000000002");
}

}  // namespace
}  // namespace keel::payments
