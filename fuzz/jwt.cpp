// JWT parsing and verification (libs/auth): the first input byte picks the mode.
//   0: the rest is a compact token, verified against the fuzz key set;
//   1: the rest is a JWT payload (claims JSON) signed with the fuzz key, then verified,
//      so the claim checks run behind a valid signature;
//   2: the rest is a header JSON, signed with the fuzz key over a fixed payload;
//   3: the rest is a JWKS document for ParseJwks.
// Invariants: a token verifies only with alg EdDSA, a known kid and claims that pass
// exp/nbf/iss/aud; no exception escapes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <keel/auth/crypto.hpp>
#include <keel/auth/jwt.hpp>

#include "fuzz_check.hpp"
#include "fuzz_key.hpp"

namespace auth = keel::auth;

namespace {

const auth::SigningKey& Key() {
    static const auth::SigningKey key = keel::fuzz::FuzzKey();
    return key;
}

const auth::KeySet& Keys() {
    static const auth::KeySet keys{{Key().kid, Key().public_key}};
    return keys;
}

std::string Sign(std::string_view header_json, std::string_view payload_json) {
    const std::string input =
        auth::Base64UrlEncode(header_json) + "." + auth::Base64UrlEncode(payload_json);
    unsigned char signature[crypto_sign_BYTES];
    crypto_sign_detached(signature, nullptr, reinterpret_cast<const unsigned char*>(input.data()),
                         input.size(),
                         reinterpret_cast<const unsigned char*>(Key().secret_key.data()));
    return input + "." +
           auth::Base64UrlEncode(
               std::string_view(reinterpret_cast<const char*>(signature), sizeof signature));
}

void Verify(std::string_view token) {
    auth::VerifyOptions options;
    options.issuer = keel::fuzz::kFuzzIssuer;
    options.audience = keel::fuzz::kFuzzAudience;
    options.now = keel::fuzz::kFuzzNow;
    const auto verified = auth::VerifyJwt(token, Keys(), options);
    KEEL_FUZZ_CHECK(verified.claims.has_value() == (verified.error == auth::JwtError::kNone));
    KEEL_FUZZ_CHECK(!auth::Describe(verified.error).empty());
    if (!verified.claims) return;
    const auto& c = *verified.claims;
    KEEL_FUZZ_CHECK(verified.kid == Key().kid);
    KEEL_FUZZ_CHECK(!c.subject.empty());
    KEEL_FUZZ_CHECK(c.issuer == options.issuer && c.audience == options.audience);
    const auto leeway = options.leeway.count();
    KEEL_FUZZ_CHECK(options.now < c.expires_at + leeway);
    KEEL_FUZZ_CHECK(options.now + leeway >= c.not_before);
    // A verified token's signed part is exactly two base64url segments.
    KEEL_FUZZ_CHECK(token.find('.') != std::string_view::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
        case 0:
            Verify(rest);
            break;
        case 1:
            Verify(Sign(R"({"alg":"EdDSA","typ":"JWT","kid":"fuzz-key"})", rest));
            break;
        case 2:
            Verify(Sign(rest, R"({"sub":"u1","iss":"keel-auth","aud":"keel","exp":1800000600})"));
            break;
        default: {
            const auto keys = auth::ParseJwks(rest);
            if (keys) {
                for (const auto& kv : *keys)
                    KEEL_FUZZ_CHECK(kv.second.size() == crypto_sign_PUBLICKEYBYTES);
            }
            break;
        }
    }
    // The base64url helpers on their own: decoding what was encoded gives it back.
    const auto decoded = auth::Base64UrlDecode(rest);
    if (decoded) KEEL_FUZZ_CHECK(auth::Base64UrlEncode(*decoded) == rest);
    return 0;
}
