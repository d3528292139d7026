#include <keel/auth/jwt.hpp>

#include <sodium.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <keel/auth/crypto.hpp>

namespace keel::auth {
namespace json = boost::json;
namespace {

std::int64_t NowSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::optional<json::object> DecodeObject(std::string_view part) {
    auto raw = Base64UrlDecode(part);
    if (!raw) return std::nullopt;
    boost::system::error_code ec;
    auto value = json::parse(*raw, ec);
    if (ec || !value.is_object()) return std::nullopt;
    return std::move(value.as_object());
}

std::optional<std::string> StringMember(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
}

std::optional<std::int64_t> IntMember(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (!v || !v->is_int64()) return std::nullopt;
    return v->as_int64();
}

}  // namespace

SigningKey SigningKey::Generate() {
    (void)RandomToken(1);  // initialises libsodium
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    SigningKey key;
    key.public_key.assign(reinterpret_cast<char*>(pk), sizeof pk);
    key.secret_key.assign(reinterpret_cast<char*>(sk), sizeof sk);
    // kid: a short fingerprint of the public key, stable and unguessable-free.
    key.kid = Sha256Hex(key.public_key).substr(0, 16);
    return key;
}

std::string SignJwt(const Claims& claims, const SigningKey& key) {
    json::object header{{"alg", "EdDSA"}, {"typ", "JWT"}, {"kid", key.kid}};
    json::object payload{{"sub", claims.subject},    {"role", claims.role},
                         {"iss", claims.issuer},     {"aud", claims.audience},
                         {"jti", claims.id},         {"iat", claims.issued_at},
                         {"nbf", claims.not_before}, {"exp", claims.expires_at}};
    std::string signing_input =
        Base64UrlEncode(json::serialize(header)) + "." + Base64UrlEncode(json::serialize(payload));
    unsigned char signature[crypto_sign_BYTES];
    crypto_sign_detached(
        signature, nullptr, reinterpret_cast<const unsigned char*>(signing_input.data()),
        signing_input.size(), reinterpret_cast<const unsigned char*>(key.secret_key.data()));
    return signing_input + "." +
           Base64UrlEncode(std::string_view(reinterpret_cast<char*>(signature), sizeof signature));
}

std::string_view Describe(JwtError error) {
    switch (error) {
        case JwtError::kNone:
            return "valid";
        case JwtError::kMalformed:
            return "malformed token";
        case JwtError::kAlgorithmNotAllowed:
            return "algorithm not allowed";
        case JwtError::kUnknownKey:
            return "unknown signing key";
        case JwtError::kBadSignature:
            return "bad signature";
        case JwtError::kExpired:
            return "token expired";
        case JwtError::kNotYetValid:
            return "token not yet valid";
        case JwtError::kWrongIssuer:
            return "wrong issuer";
        case JwtError::kWrongAudience:
            return "wrong audience";
    }
    return "invalid";
}

namespace {

// header.payload.signature, each part base64url.
struct JwtParts {
    std::string_view header, payload, signature, signing_input;
};

std::optional<JwtParts> SplitJwt(std::string_view token) {
    const auto dot1 = token.find('.');
    const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos ||
        token.size() > 8192)
        return std::nullopt;
    return JwtParts{token.substr(0, dot1), token.substr(dot1 + 1, dot2 - dot1 - 1),
                    token.substr(dot2 + 1), token.substr(0, dot2)};
}

bool SignatureValid(const JwtParts& parts, const std::string& public_key) {
    const auto signature = Base64UrlDecode(parts.signature);
    return signature && signature->size() == crypto_sign_BYTES &&
           public_key.size() == crypto_sign_PUBLICKEYBYTES &&
           crypto_sign_verify_detached(
               reinterpret_cast<const unsigned char*>(signature->data()),
               reinterpret_cast<const unsigned char*>(parts.signing_input.data()),
               parts.signing_input.size(),
               reinterpret_cast<const unsigned char*>(public_key.data())) == 0;
}

// nullopt when a required claim (sub, exp) is missing.
std::optional<Claims> ReadClaims(const json::object& payload) {
    Claims claims;
    claims.subject = StringMember(payload, "sub").value_or("");
    claims.role = StringMember(payload, "role").value_or("user");
    claims.issuer = StringMember(payload, "iss").value_or("");
    claims.audience = StringMember(payload, "aud").value_or("");
    claims.id = StringMember(payload, "jti").value_or("");
    const auto exp = IntMember(payload, "exp");
    claims.issued_at = IntMember(payload, "iat").value_or(0);
    claims.not_before = IntMember(payload, "nbf").value_or(0);
    if (!exp || claims.subject.empty()) return std::nullopt;
    claims.expires_at = *exp;
    return claims;
}

JwtError CheckClaims(const Claims& claims, const VerifyOptions& options) {
    const std::int64_t now = options.now != 0 ? options.now : NowSeconds();
    const std::int64_t leeway = options.leeway.count();
    if (now >= claims.expires_at + leeway) return JwtError::kExpired;
    if (now + leeway < claims.not_before) return JwtError::kNotYetValid;
    if (claims.issuer != options.issuer) return JwtError::kWrongIssuer;
    if (claims.audience != options.audience) return JwtError::kWrongAudience;
    return JwtError::kNone;
}

}  // namespace

Verified VerifyJwt(std::string_view token, const KeySet& keys, const VerifyOptions& options) {
    Verified out;
    auto fail = [&out](JwtError error) {
        out.error = error;
        return out;
    };
    const auto parts = SplitJwt(token);
    if (!parts) return fail(JwtError::kMalformed);
    const auto header = DecodeObject(parts->header);
    if (!header) return fail(JwtError::kMalformed);
    // The algorithm is pinned: the header may not choose it (RFC 8725 §2.1, §3.1).
    if (StringMember(*header, "alg") != std::optional<std::string>("EdDSA"))
        return fail(JwtError::kAlgorithmNotAllowed);
    out.kid = StringMember(*header, "kid").value_or("");
    const auto key = keys.find(out.kid);
    if (key == keys.end()) return fail(JwtError::kUnknownKey);
    if (!SignatureValid(*parts, key->second)) return fail(JwtError::kBadSignature);
    const auto payload = DecodeObject(parts->payload);
    if (!payload) return fail(JwtError::kMalformed);
    auto claims = ReadClaims(*payload);
    if (!claims) return fail(JwtError::kMalformed);
    out.error = CheckClaims(*claims, options);
    if (out.error == JwtError::kNone) out.claims = std::move(*claims);
    return out;
}

std::string ToJwks(const std::vector<SigningKey>& keys) {
    json::array list;
    for (const auto& key : keys) {
        list.push_back(json::object{{"kty", "OKP"},
                                    {"crv", "Ed25519"},
                                    {"use", "sig"},
                                    {"alg", "EdDSA"},
                                    {"kid", key.kid},
                                    {"x", Base64UrlEncode(key.public_key)}});
    }
    return json::serialize(json::object{{"keys", std::move(list)}});
}

std::optional<KeySet> ParseJwks(std::string_view text) {
    boost::system::error_code ec;
    auto value = json::parse(text, ec);
    if (ec || !value.is_object()) return std::nullopt;
    const auto* keys = value.as_object().if_contains("keys");
    if (!keys || !keys->is_array()) return std::nullopt;
    KeySet set;
    for (const auto& entry : keys->as_array()) {
        if (!entry.is_object()) continue;
        const auto& o = entry.as_object();
        if (StringMember(o, "kty") != std::optional<std::string>("OKP") ||
            StringMember(o, "crv") != std::optional<std::string>("Ed25519")) {
            continue;
        }
        auto kid = StringMember(o, "kid");
        auto x = StringMember(o, "x");
        if (!kid || !x) continue;
        auto raw = Base64UrlDecode(*x);
        if (raw && raw->size() == crypto_sign_PUBLICKEYBYTES) set[*kid] = *raw;
    }
    return set;
}

}  // namespace keel::auth
