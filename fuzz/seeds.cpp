// Writes the generated seeds of the fuzz corpora: `keel_fuzz_seeds fuzz/corpus`.
//   jwt/: tokens signed with the fuzz key (valid, expired, wrong kid, alg none), claims
//         and header JSON for the signing modes, a JWKS document;
//   avro_decode/: one record of every schema in schemas/ (values made up from the
//         schema), with the topic-picking first byte.
// The other corpora are written by hand. Run again when the schemas change.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <keel/auth/crypto.hpp>
#include <keel/auth/jwt.hpp>
#include <keel/bus/codec.hpp>

#include "fuzz_key.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

void Write(const fs::path& dir, const std::string& name, std::string_view bytes) {
    fs::create_directories(dir);
    std::ofstream(dir / name, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
    std::printf("%s (%zu bytes)\n", (dir / name).c_str(), bytes.size());
}

std::string Mode(char mode, std::string_view rest) {
    return std::string(1, mode) + std::string(rest);
}

void JwtSeeds(const fs::path& dir) {
    const auto key = keel::fuzz::FuzzKey();
    keel::auth::Claims claims;
    claims.subject = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    claims.role = "admin";
    claims.issuer = keel::fuzz::kFuzzIssuer;
    claims.audience = keel::fuzz::kFuzzAudience;
    claims.id = "jti-1";
    claims.issued_at = keel::fuzz::kFuzzNow - 60;
    claims.not_before = keel::fuzz::kFuzzNow - 60;
    claims.expires_at = keel::fuzz::kFuzzNow + 900;
    Write(dir, "valid", Mode(0, keel::auth::SignJwt(claims, key)));
    auto expired = claims;
    expired.expires_at = keel::fuzz::kFuzzNow - 3600;
    Write(dir, "expired", Mode(0, keel::auth::SignJwt(expired, key)));
    auto other = key;
    other.kid = "other-key";
    Write(dir, "unknown_kid", Mode(0, keel::auth::SignJwt(claims, other)));
    Write(dir, "alg_none",
          Mode(0, keel::auth::Base64UrlEncode(R"({"alg":"none","typ":"JWT"})") + "." +
                      keel::auth::Base64UrlEncode(R"({"sub":"x","exp":1900000000})") + "."));
    Write(dir, "claims",
          Mode(1, R"({"sub":"u1","role":"user","iss":"keel-auth","aud":"keel","jti":"j",)"
                  R"("iat":1799999000,"nbf":1799999000,"exp":1800000600})"));
    Write(dir, "claims_wrong_aud",
          Mode(1, R"({"sub":"u1","iss":"keel-auth","aud":"other","exp":1800000600})"));
    Write(dir, "header", Mode(2, R"({"alg":"EdDSA","typ":"JWT","kid":"fuzz-key"})"));
    Write(dir, "jwks", Mode(3, keel::auth::ToJwks({key})));
}

// A made-up value of an Avro schema (as parsed JSON); `named` collects named types.
json::value Sample(const json::value& schema, std::map<std::string, json::value>& named,
                   bool null_branch) {
    if (schema.is_string()) {
        const std::string type(schema.as_string());
        if (type == "null") return nullptr;
        if (type == "boolean") return true;
        if (type == "int") return 42;
        if (type == "long") return std::int64_t{1'800'000'000'123};
        if (type == "float" || type == "double") return 1.5;
        if (type == "string" || type == "bytes") return "abc";
        const auto it = named.find(type);
        return it == named.end() ? json::value() : Sample(it->second, named, null_branch);
    }
    if (schema.is_array()) {  // a union: the null branch or the first other one
        for (const auto& branch : schema.as_array()) {
            const bool is_null = branch.is_string() && branch.as_string() == "null";
            if (is_null == null_branch) return Sample(branch, named, null_branch);
        }
        return Sample(schema.as_array().front(), named, null_branch);
    }
    const auto& o = schema.as_object();
    const std::string type(o.at("type").is_string() ? o.at("type").as_string() : "");
    if (const auto* name = o.if_contains("name")) named[std::string(name->as_string())] = schema;
    if (type == "record") {
        json::object out;
        for (const auto& field : o.at("fields").as_array())
            out[field.at("name").as_string()] = Sample(field.at("type"), named, null_branch);
        return out;
    }
    if (type == "array") return json::array{Sample(o.at("items"), named, null_branch)};
    if (type == "map") return json::object{{"k", Sample(o.at("values"), named, null_branch)}};
    if (type == "enum") return o.at("symbols").as_array().front();
    if (type == "fixed") return json::string(o.at("size").to_number<std::size_t>(), 'f');
    return Sample(o.at("type"), named, null_branch);  // {"type": "long", "logicalType": ...}
}

void AvroSeeds(const fs::path& dir) {
    const auto& codec = keel::bus::Codec::Embedded();
    const auto topics = codec.Topics();
    for (std::size_t i = 0; i < topics.size(); ++i) {
        const json::value schema = json::parse(codec.SchemaJson(topics[i]));
        std::string previous;
        for (const bool null_branch : {false, true}) {
            std::map<std::string, json::value> named;
            const std::string bytes = codec.Encode(topics[i], Sample(schema, named, null_branch));
            if (bytes == previous) continue;  // no union: one seed is enough
            previous = bytes;
            Write(dir, topics[i] + (null_branch ? ".nulls" : ""),
                  std::string(1, static_cast<char>(i)) + bytes);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    const fs::path corpus(argv[1]);
    JwtSeeds(corpus / "jwt");
    AvroSeeds(corpus / "avro_decode");
    return 0;
}
