#pragma once
// The Ed25519 key the jwt harness trusts, derived from a fixed seed so that the signed
// tokens in corpus/jwt/ (written by keel_fuzz_seeds) keep verifying.
#include <sodium.h>

#include <keel/auth/jwt.hpp>

namespace keel::fuzz {

inline auth::SigningKey FuzzKey() {
    if (sodium_init() < 0) std::abort();
    unsigned char seed[crypto_sign_SEEDBYTES];
    for (unsigned i = 0; i < sizeof seed; ++i) seed[i] = static_cast<unsigned char>(i * 7 + 1);
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, seed);
    auth::SigningKey key;
    key.kid = "fuzz-key";
    key.public_key.assign(reinterpret_cast<char*>(pk), sizeof pk);
    key.secret_key.assign(reinterpret_cast<char*>(sk), sizeof sk);
    return key;
}

inline constexpr std::int64_t kFuzzNow = 1'800'000'000;  // the verifier's clock
inline constexpr const char* kFuzzIssuer = "keel-auth";
inline constexpr const char* kFuzzAudience = "keel";

}  // namespace keel::fuzz
