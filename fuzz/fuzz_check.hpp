#pragma once
// What a harness does when an invariant breaks: print and abort, so libFuzzer saves the
// input as a crash and the replay test fails.
#include <cstdio>
#include <cstdlib>

#define KEEL_FUZZ_CHECK(cond)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                          \
        }                                                                                          \
    } while (0)
