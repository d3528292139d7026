// Which failures a retry can fix (consumers retry those without counting them).
#include <keel/pg/result.hpp>

#include <gtest/gtest.h>

namespace keel::pg {
namespace {

TEST(Transient, ConnectionAndConcurrencyStatesAreTransient) {
    for (const char* state : {"08000", "08006", "08001", "40001", "40P01", "55P03", "57014",
                              "57P01", "57P02", "57P03", "53000", "53300"})
        EXPECT_TRUE(QueryError(state, "x").IsTransient()) << state;
}

TEST(Transient, DataAndCodeErrorsAreNot) {
    for (const char* state :
         {"23505", "23503", "22001", "42P01", "42703", "55000", "57000", "XX000", "", "08"})
        EXPECT_FALSE(QueryError(state, "x").IsTransient()) << state;
}

TEST(Transient, UnavailableErrorsAreTransientWhateverTheirLibrary) {
    EXPECT_TRUE(IsTransient(ConnectionError("postgres pool exhausted")));
    EXPECT_TRUE(IsTransient(UnavailableError("nats away")));
    EXPECT_TRUE(IsTransient(QueryError("40P01", "deadlock detected")));
    EXPECT_FALSE(IsTransient(QueryError("23505", "duplicate key")));
    EXPECT_FALSE(IsTransient(std::runtime_error("bad data")));
}

}  // namespace
}  // namespace keel::pg
