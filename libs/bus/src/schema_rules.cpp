// Avro schema rules that libavro does not offer: the Parsing Canonical Form and its
// fingerprint (for the envelope), schema resolution (for the compatibility test and
// for learning writer schemas) and reading a decoded value into a reader's shape.
#include "schema_rules.hpp"

#include <keel/bus/codec.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>
#include <cstdio>
#include <set>

namespace keel::bus {
namespace json = boost::json;

namespace {

const std::set<std::string, std::less<>> kPrimitives = {"null",  "boolean", "int",   "long",
                                                        "float", "double",  "bytes", "string"};

std::string FullName(const json::object& o, const std::string& enclosing_ns) {
    std::string name(o.at("name").as_string());
    if (name.find('.') != std::string::npos) return name;
    std::string ns = enclosing_ns;
    if (const auto* n = o.if_contains("namespace"); n && n->is_string())
        ns = std::string(n->get_string());
    return ns.empty() ? name : ns + "." + name;
}

std::string Namespace(const std::string& full) {
    const auto dot = full.rfind('.');
    return dot == std::string::npos ? "" : full.substr(0, dot);
}

std::string Quoted(std::string_view s) { return json::serialize(json::value(json::string(s))); }

std::string Canonical(const json::value& s, const std::string& ns, std::set<std::string>& named) {
    if (s.is_string()) {
        std::string name(s.get_string());
        if (kPrimitives.count(name) || name.find('.') != std::string::npos || ns.empty())
            return Quoted(name);
        return Quoted(named.count(ns + "." + name) ? ns + "." + name : name);
    }
    if (s.is_array()) {
        std::string out = "[";
        for (const auto& branch : s.get_array()) {
            if (out.size() > 1) out += ",";
            out += Canonical(branch, ns, named);
        }
        return out + "]";
    }
    if (!s.is_object()) throw SchemaError("schema: unexpected " + json::serialize(s));
    const auto& o = s.get_object();
    const std::string type(o.at("type").as_string());
    if (kPrimitives.count(type)) return Quoted(type);  // logicalType and the rest dropped
    if (type == "array")
        return "{\"type\":\"array\",\"items\":" + Canonical(o.at("items"), ns, named) + "}";
    if (type == "map")
        return "{\"type\":\"map\",\"values\":" + Canonical(o.at("values"), ns, named) + "}";
    const std::string full = FullName(o, ns);
    named.insert(full);
    std::string out = "{\"name\":" + Quoted(full) + ",\"type\":" + Quoted(type);
    if (type == "record" || type == "error") {
        out += ",\"fields\":[";
        bool first = true;
        for (const auto& f : o.at("fields").as_array()) {
            if (!first) out += ",";
            first = false;
            out += "{\"name\":" + Quoted(f.at("name").as_string()) +
                   ",\"type\":" + Canonical(f.at("type"), Namespace(full), named) + "}";
        }
        out += "]";
    } else if (type == "enum") {
        out += ",\"symbols\":" + json::serialize(o.at("symbols"));
    } else if (type == "fixed") {
        out += ",\"size\":" + json::serialize(o.at("size"));
    }
    return out + "}";
}

// --- resolution --------------------------------------------------------------------

// A schema node with named types resolved, for comparing two schemas.
struct Node {
    const json::value* v;
    std::string ns;
};

using Names = std::map<std::string, const json::value*>;

void CollectNames(const json::value& s, const std::string& ns, Names& names) {
    if (s.is_array()) {
        for (const auto& b : s.get_array()) CollectNames(b, ns, names);
        return;
    }
    if (!s.is_object()) return;
    const auto& o = s.get_object();
    const std::string type(o.at("type").as_string());
    if (type == "array") return CollectNames(o.at("items"), ns, names);
    if (type == "map") return CollectNames(o.at("values"), ns, names);
    if (type != "record" && type != "enum" && type != "fixed" && type != "error") return;
    const std::string full = FullName(o, ns);
    names[full] = &s;
    if (const auto* fields = o.if_contains("fields"))
        for (const auto& f : fields->as_array()) CollectNames(f.at("type"), Namespace(full), names);
}

// The type name of a node ("int", "record", ...) and, for named types, the object.
std::string TypeOf(const Node& n, const Names& names, const json::object** object,
                   std::string* full) {
    *object = nullptr;
    if (n.v->is_array()) return "union";
    if (n.v->is_string()) {
        std::string name(n.v->get_string());
        if (kPrimitives.count(name)) return name;
        auto it = names.find(name);
        if (it == names.end() && !n.ns.empty()) it = names.find(n.ns + "." + name);
        if (it == names.end()) throw SchemaError("unknown type " + name);
        *object = &it->second->get_object();
        *full = it->first;
        return std::string((*object)->at("type").as_string());
    }
    *object = &n.v->get_object();
    const std::string type((*object)->at("type").as_string());
    if (type == "record" || type == "enum" || type == "fixed" || type == "error")
        *full = FullName(**object, n.ns);
    return type;
}

bool Promotes(const std::string& writer, const std::string& reader) {
    if (writer == reader) return true;
    if (writer == "int") return reader == "long" || reader == "float" || reader == "double";
    if (writer == "long") return reader == "float" || reader == "double";
    if (writer == "float") return reader == "double";
    return (writer == "string" && reader == "bytes") || (writer == "bytes" && reader == "string");
}

struct Resolver {
    const Names& reader_names;
    const Names& writer_names;

    bool Check(const Node& r, const Node& w, const std::string& path, std::string& why) const {
        const json::object *ro = nullptr, *wo = nullptr;
        std::string rfull, wfull;
        const std::string rt = TypeOf(r, reader_names, &ro, &rfull);
        const std::string wt = TypeOf(w, writer_names, &wo, &wfull);
        if (wt == "union") {  // every branch the writer may use must be readable
            for (const auto& b : w.v->get_array())
                if (!Check(r, Node{&b, w.ns}, path, why)) return false;
            return true;
        }
        if (rt == "union") {
            std::string ignored;
            for (const auto& b : r.v->get_array())
                if (Check(Node{&b, r.ns}, w, path, ignored)) return true;
            why = path + ": the reader's union has no branch for the writer's " + wt;
            return false;
        }
        if (rt != wt && !Promotes(wt, rt)) {
            why = path + ": type changed from " + wt + " to " + rt;
            return false;
        }
        if (rt == "array")
            return Check(Node{&ro->at("items"), r.ns}, Node{&wo->at("items"), w.ns}, path + "[]",
                         why);
        if (rt == "map")
            return Check(Node{&ro->at("values"), r.ns}, Node{&wo->at("values"), w.ns}, path + "{}",
                         why);
        if (rt == "enum") return CheckEnum(*ro, *wo, path, why);
        if (rt == "fixed" && ro->at("size") != wo->at("size")) {
            why = path + ": fixed size changed";
            return false;
        }
        if (rt != "record" && rt != "error") return true;
        return CheckRecord(*ro, rfull, *wo, wfull, path, why);
    }

    // Every symbol the writer may send is readable, or the reader has a default.
    static bool CheckEnum(const json::object& ro, const json::object& wo, const std::string& path,
                          std::string& why) {
        std::set<std::string> symbols;
        for (const auto& s : ro.at("symbols").as_array()) symbols.emplace(s.as_string());
        for (const auto& s : wo.at("symbols").as_array())
            if (!symbols.count(std::string(s.as_string())) && !ro.contains("default")) {
                why = path + ": enum symbol " + std::string(s.as_string()) + " removed";
                return false;
            }
        return true;
    }

    // Same record name; every reader field is in the writer's (and resolves) or has a default.
    bool CheckRecord(const json::object& ro, const std::string& rfull, const json::object& wo,
                     const std::string& wfull, const std::string& path, std::string& why) const {
        if (rfull.substr(rfull.rfind('.') + 1) != wfull.substr(wfull.rfind('.') + 1)) {
            why = path + ": record name changed from " + wfull + " to " + rfull;
            return false;
        }
        std::map<std::string, const json::value*> writer_fields;
        for (const auto& f : wo.at("fields").as_array())
            writer_fields[std::string(f.at("name").as_string())] = &f;
        for (const auto& f : ro.at("fields").as_array()) {
            const std::string name(f.at("name").as_string());
            const std::string field_path =
                path.empty() ? name : std::string(path).append(".").append(name);
            const auto it = writer_fields.find(name);
            if (it == writer_fields.end()) {
                if (!f.as_object().contains("default")) {
                    why = field_path + ": added without a default";
                    return false;
                }
                continue;
            }
            if (!Check(Node{&f.at("type"), Namespace(rfull)},
                       Node{&it->second->at("type"), Namespace(wfull)}, field_path, why))
                return false;
        }
        return true;
    }
};

// --- reading into the reader's shape ---------------------------------------------------

// Whether a decoded JSON value can be a value of the schema type `type` (picks the
// reader's union branch; the codec writes a union's value as the first branch it fits).
bool JsonFits(const std::string& type, const json::value& v) {
    if (type == "null") return v.is_null();
    if (type == "boolean") return v.is_bool();
    if (type == "int" || type == "long") return v.is_int64() || v.is_uint64();
    if (type == "float" || type == "double") return v.is_number();
    if (type == "string" || type == "bytes" || type == "enum" || type == "fixed")
        return v.is_string();
    if (type == "array") return v.is_array();
    return v.is_object();  // map, record, error
}

std::string Child(const std::string& path, std::string_view name) {
    return path.empty() ? std::string(name) : path + "." + std::string(name);
}

}  // namespace

struct ReaderShape::Impl {
    json::value root;
    Names names;

    json::value Read(const Node& r, const json::value& v, const std::string& path) const {
        const json::object* o = nullptr;
        std::string full;
        const std::string type = TypeOf(r, names, &o, &full);
        if (type == "union") return ReadUnion(r, v, path);
        if (type == "record" || type == "error") return ReadRecord(*o, Namespace(full), v, path);
        if (type == "enum") return ReadEnum(*o, v, path);
        if (type == "array") {
            if (!v.is_array()) throw DecodeError(path + ": expected an array");
            json::array out;
            for (const auto& item : v.get_array())
                out.push_back(Read(Node{&o->at("items"), r.ns}, item, path + "[]"));
            return out;
        }
        if (type == "map") {
            if (!v.is_object()) throw DecodeError(path + ": expected a map");
            json::object out;
            for (const auto& kv : v.get_object())
                out.emplace(kv.key(),
                            Read(Node{&o->at("values"), r.ns}, kv.value(), Child(path, kv.key())));
            return out;
        }
        if ((type == "float" || type == "double") && v.is_number())
            return json::value(v.to_number<double>());  // int and long widen
        if (!JsonFits(type, v)) throw DecodeError(path + ": does not fit the reader's " + type);
        return v;
    }

    json::value ReadUnion(const Node& r, const json::value& v, const std::string& path) const {
        for (const auto& branch : r.v->get_array()) {
            const Node b{&branch, r.ns};
            const json::object* o = nullptr;
            std::string full;
            if (JsonFits(TypeOf(b, names, &o, &full), v)) return Read(b, v, path);
        }
        throw DecodeError(path + ": no branch of the reader's union takes the value");
    }

    json::value ReadRecord(const json::object& o, const std::string& ns, const json::value& v,
                           const std::string& path) const {
        if (!v.is_object()) throw DecodeError(path + ": expected a record");
        json::object out;
        for (const auto& f : o.at("fields").as_array()) {
            const auto& field = f.as_object();
            const std::string_view name = field.at("name").as_string();
            const auto* written = v.get_object().if_contains(name);
            if (written == nullptr) written = field.if_contains("default");
            if (written == nullptr)
                throw DecodeError(Child(path, name) + ": not written and without a default");
            out.emplace(name, Read(Node{&field.at("type"), ns}, *written, Child(path, name)));
        }
        return out;
    }

    static json::value ReadEnum(const json::object& o, const json::value& v,
                                const std::string& path) {
        if (!v.is_string()) throw DecodeError(path + ": expected an enum symbol");
        for (const auto& symbol : o.at("symbols").as_array())
            if (symbol == v) return v;
        if (const auto* fallback = o.if_contains("default")) return *fallback;
        throw DecodeError(path + ": enum symbol " + std::string(v.get_string()) +
                          " unknown to the reader, which has no default");
    }
};

ReaderShape::ReaderShape(std::string_view reader_json) : impl_(std::make_unique<Impl>()) {
    try {
        impl_->root = json::parse(reader_json);
        CollectNames(impl_->root, "", impl_->names);
    } catch (const std::exception& e) {
        throw SchemaError(std::string("schema is not valid Avro JSON: ") + e.what());
    }
}

ReaderShape::~ReaderShape() = default;

json::value ReaderShape::Read(const json::value& written) const {
    try {
        return impl_->Read(Node{&impl_->root, ""}, written, "");
    } catch (const DecodeError&) {
        throw;
    } catch (const std::exception& e) {  // a malformed schema node (json::at)
        throw DecodeError(std::string("cannot read into the reader's schema: ") + e.what());
    }
}

std::string CanonicalForm(std::string_view schema_json) {
    try {
        std::set<std::string> named;
        return Canonical(json::parse(schema_json), "", named);
    } catch (const SchemaError&) {
        throw;
    } catch (const std::exception& e) {
        throw SchemaError(std::string("schema is not valid Avro JSON: ") + e.what());
    }
}

std::uint64_t Rabin64(std::string_view text) {
    static const std::array<std::uint64_t, 256> table = [] {
        constexpr std::uint64_t kEmpty = 0xc15d213aa4d7a795ULL;
        std::array<std::uint64_t, 256> t{};
        for (std::uint64_t i = 0; i < 256; ++i) {
            std::uint64_t fp = i;
            for (int j = 0; j < 8; ++j) fp = (fp >> 1) ^ (kEmpty & (0 - (fp & 1)));
            t[i] = fp;
        }
        return t;
    }();
    std::uint64_t fp = 0xc15d213aa4d7a795ULL;
    for (const unsigned char c : text) fp = (fp >> 8) ^ table[(fp ^ c) & 0xff];
    return fp;
}

std::string FingerprintOf(std::string_view schema_json) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(Rabin64(CanonicalForm(schema_json))));
    return hex;
}

bool CanRead(std::string_view reader_json, std::string_view writer_json, std::string* why) {
    std::string reason;
    bool ok = false;
    try {
        const json::value reader = json::parse(reader_json);
        const json::value writer = json::parse(writer_json);
        Names reader_names, writer_names;
        CollectNames(reader, "", reader_names);
        CollectNames(writer, "", writer_names);
        ok = Resolver{reader_names, writer_names}.Check(Node{&reader, ""}, Node{&writer, ""}, "",
                                                        reason);
    } catch (const std::exception& e) {
        reason = e.what();
    }
    if (why) *why = reason;
    return ok;
}

}  // namespace keel::bus
