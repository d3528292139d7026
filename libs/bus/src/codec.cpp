#include <keel/bus/codec.hpp>

#include <avro.h>

#include "schema_rules.hpp"

#include <keel/core/utf8.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

namespace keel::bus {
namespace json = boost::json;

namespace {

std::string AvroError(std::string_view what) { return std::string(what) + ": " + avro_strerror(); }

// --- JSON -> Avro value --------------------------------------------------------------

const char* KindName(const json::value& v) {
    switch (v.kind()) {
        case json::kind::null:
            return "null";
        case json::kind::bool_:
            return "boolean";
        case json::kind::int64:
        case json::kind::uint64:
            return "integer";
        case json::kind::double_:
            return "number";
        case json::kind::string:
            return "string";
        case json::kind::array:
            return "array";
        case json::kind::object:
            return "object";
    }
    return "value";
}

[[noreturn]] void Mismatch(const std::string& path, const char* expected, const json::value& got) {
    throw SchemaError(path + ": expected " + expected + ", got " + KindName(got));
}

// Whether `v` could be written as the schema type `t` (used to pick a union branch).
bool Fits(avro_type_t t, const json::value& v) {
    switch (t) {
        case AVRO_NULL:
            return v.is_null();
        case AVRO_BOOLEAN:
            return v.is_bool();
        case AVRO_INT32:
        case AVRO_INT64:
            return v.is_int64() || v.is_uint64();
        case AVRO_FLOAT:
        case AVRO_DOUBLE:
            return v.is_number();
        case AVRO_STRING:
        case AVRO_BYTES:
        case AVRO_ENUM:
        case AVRO_FIXED:
            return v.is_string();
        case AVRO_ARRAY:
            return v.is_array();
        case AVRO_MAP:
        case AVRO_RECORD:
            return v.is_object();
        default:
            return false;
    }
}

std::int64_t Integer(const std::string& path, const json::value& v, std::int64_t lo,
                     std::int64_t hi) {
    if (v.is_int64()) {
        const auto n = v.get_int64();
        if (n >= lo && n <= hi) return n;
    } else if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(hi)) {
        return static_cast<std::int64_t>(v.get_uint64());
    } else {
        Mismatch(path, "an integer", v);
    }
    throw SchemaError(path + ": integer out of range");
}

void Set(avro_value_t* out, const json::value& v, const std::string& path);

// null, boolean and the numbers; false when the type is none of them.
bool SetScalar(avro_value_t* out, const json::value& v, const std::string& path) {
    switch (avro_value_get_type(out)) {
        case AVRO_NULL:
            if (!v.is_null()) Mismatch(path, "null", v);
            avro_value_set_null(out);
            return true;
        case AVRO_BOOLEAN:
            if (!v.is_bool()) Mismatch(path, "a boolean", v);
            avro_value_set_boolean(out, v.get_bool() ? 1 : 0);
            return true;
        case AVRO_INT32:
            avro_value_set_int(out,
                               static_cast<std::int32_t>(Integer(path, v, INT32_MIN, INT32_MAX)));
            return true;
        case AVRO_INT64:
            avro_value_set_long(out, Integer(path, v, INT64_MIN, INT64_MAX));
            return true;
        case AVRO_FLOAT:
            if (!v.is_number()) Mismatch(path, "a number", v);
            avro_value_set_float(out, static_cast<float>(v.to_number<double>()));
            return true;
        case AVRO_DOUBLE:
            if (!v.is_number()) Mismatch(path, "a number", v);
            avro_value_set_double(out, v.to_number<double>());
            return true;
        default:
            return false;
    }
}

// string, bytes and enum symbols, all written as JSON strings.
void SetText(avro_value_t* out, const json::value& v, const std::string& path) {
    if (!v.is_string()) Mismatch(path, "a string", v);
    const auto& s = v.get_string();
    avro_schema_t schema = avro_value_get_schema(out);
    switch (avro_value_get_type(out)) {
        case AVRO_STRING:
            if (s.find('\0') != json::string::npos) throw SchemaError(path + ": NUL in string");
            avro_value_set_string_len(out, s.c_str(), s.size() + 1);
            return;
        case AVRO_BYTES:
            avro_value_set_bytes(out, const_cast<char*>(s.data()), s.size());
            return;
        default: {  // AVRO_ENUM
            const int index = avro_schema_enum_get_by_name(schema, s.c_str());
            if (index < 0)
                throw SchemaError(path + ": \"" + std::string(s) + "\" is not a symbol of " +
                                  avro_schema_name(schema));
            avro_value_set_enum(out, index);
        }
    }
}

void SetArray(avro_value_t* out, const json::value& v, const std::string& path) {
    if (!v.is_array()) Mismatch(path, "an array", v);
    std::size_t i = 0;
    for (const auto& item : v.get_array()) {
        avro_value_t element;
        avro_value_append(out, &element, nullptr);
        Set(&element, item, path + "[" + std::to_string(i++) + "]");
    }
}

void SetMap(avro_value_t* out, const json::value& v, const std::string& path) {
    if (!v.is_object()) Mismatch(path, "an object", v);
    for (const auto& kv : v.get_object()) {
        avro_value_t element;
        const std::string key(kv.key());
        avro_value_add(out, key.c_str(), &element, nullptr, nullptr);
        std::string element_path = path;
        element_path += '.';
        element_path += key;
        Set(&element, kv.value(), element_path);
    }
}

std::string FieldPath(const std::string& path, const std::string& name) {
    if (path.empty()) return name;
    std::string out = path;
    out += '.';
    out += name;
    return out;
}

// Every schema field from the object (an absent one as null, which only a nullable
// field takes); a key that is no field of the schema is refused.
void SetRecord(avro_value_t* out, const json::value& v, const std::string& path) {
    if (!v.is_object()) Mismatch(path, "an object", v);
    const auto& object = v.get_object();
    avro_schema_t schema = avro_value_get_schema(out);
    const std::size_t fields = avro_schema_record_size(schema);
    std::size_t seen = 0;
    for (std::size_t i = 0; i < fields; ++i) {
        const char* name = avro_schema_record_field_name(schema, static_cast<int>(i));
        avro_value_t field;
        avro_value_get_by_index(out, i, &field, nullptr);
        const std::string field_path = FieldPath(path, name);
        const auto* item = object.if_contains(name);
        if (item != nullptr) ++seen;
        Set(&field, item != nullptr ? *item : json::value(nullptr), field_path);
    }
    if (seen == object.size()) return;
    for (const auto& kv : object) {
        avro_value_t unused;
        const std::string key(kv.key());
        if (avro_value_get_by_name(out, key.c_str(), &unused, nullptr) != 0)
            throw SchemaError(FieldPath(path, key) + ": not in the schema");
    }
}

// The first branch whose type the value fits.
void SetUnion(avro_value_t* out, const json::value& v, const std::string& path) {
    avro_schema_t schema = avro_value_get_schema(out);
    const std::size_t branches = avro_schema_union_size(schema);
    for (std::size_t i = 0; i < branches; ++i) {
        if (!Fits(avro_typeof(avro_schema_union_branch(schema, static_cast<int>(i))), v)) continue;
        avro_value_t branch;
        avro_value_set_branch(out, static_cast<int>(i), &branch);
        Set(&branch, v, path);
        return;
    }
    Mismatch(path, "a value of one of the union's types", v);
}

void Set(avro_value_t* out, const json::value& v, const std::string& path) {
    if (SetScalar(out, v, path)) return;
    switch (avro_value_get_type(out)) {
        case AVRO_STRING:
        case AVRO_BYTES:
        case AVRO_ENUM:
            return SetText(out, v, path);
        case AVRO_ARRAY:
            return SetArray(out, v, path);
        case AVRO_MAP:
            return SetMap(out, v, path);
        case AVRO_RECORD:
            return SetRecord(out, v, path);
        case AVRO_UNION:
            return SetUnion(out, v, path);
        default:
            throw SchemaError(path + ": unsupported Avro type " +
                              avro_schema_type_name(avro_value_get_schema(out)));
    }
}

// --- Avro value -> JSON --------------------------------------------------------------

json::value Get(const avro_value_t* in);

// null, boolean and the numbers; nullopt when the type is none of them.
std::optional<json::value> GetScalar(avro_value_t* v) {
    switch (avro_value_get_type(v)) {
        case AVRO_NULL:
            return json::value(nullptr);
        case AVRO_BOOLEAN: {
            int b = 0;
            avro_value_get_boolean(v, &b);
            return json::value(b != 0);
        }
        case AVRO_INT32: {
            std::int32_t n = 0;
            avro_value_get_int(v, &n);
            return json::value(n);
        }
        case AVRO_INT64: {
            std::int64_t n = 0;
            avro_value_get_long(v, &n);
            return json::value(n);
        }
        case AVRO_FLOAT: {
            float f = 0;
            avro_value_get_float(v, &f);
            return json::value(static_cast<double>(f));
        }
        case AVRO_DOUBLE: {
            double d = 0;
            avro_value_get_double(v, &d);
            return json::value(d);
        }
        default:
            return std::nullopt;
    }
}

json::value GetText(avro_value_t* v) {
    switch (avro_value_get_type(v)) {
        case AVRO_STRING: {
            const char* s = nullptr;
            std::size_t size = 0;
            avro_value_get_string(v, &s, &size);
            return json::string(s, size > 0 ? size - 1 : 0);  // libavro counts the NUL
        }
        case AVRO_BYTES: {
            const void* p = nullptr;
            std::size_t size = 0;
            avro_value_get_bytes(v, &p, &size);
            return json::string(static_cast<const char*>(p), size);
        }
        default: {  // AVRO_ENUM
            int index = 0;
            avro_value_get_enum(v, &index);
            return avro_schema_enum_get(avro_value_get_schema(v), index);
        }
    }
}

json::value GetArray(avro_value_t* v) {
    std::size_t size = 0;
    avro_value_get_size(v, &size);
    json::array out;
    out.reserve(size);
    for (std::size_t i = 0; i < size; ++i) {
        avro_value_t element;
        avro_value_get_by_index(v, i, &element, nullptr);
        out.push_back(Get(&element));
    }
    return out;
}

// A map or a record: both are JSON objects.
json::value GetObject(avro_value_t* v) {
    std::size_t size = 0;
    avro_value_get_size(v, &size);
    json::object out;
    out.reserve(size);
    for (std::size_t i = 0; i < size; ++i) {
        avro_value_t element;
        const char* name = nullptr;
        avro_value_get_by_index(v, i, &element, &name);
        out.emplace(name, Get(&element));
    }
    return out;
}

json::value Get(const avro_value_t* in) {
    avro_value_t* v = const_cast<avro_value_t*>(in);
    if (auto scalar = GetScalar(v)) return std::move(*scalar);
    switch (avro_value_get_type(v)) {
        case AVRO_STRING:
        case AVRO_BYTES:
        case AVRO_ENUM:
            return GetText(v);
        case AVRO_ARRAY:
            return GetArray(v);
        case AVRO_MAP:
        case AVRO_RECORD:
            return GetObject(v);
        case AVRO_UNION: {
            avro_value_t branch;
            avro_value_get_current_branch(v, &branch);
            return Get(&branch);
        }
        default:
            throw DecodeError("unsupported Avro type");
    }
}

// --- Checking the bytes before libavro reads them ------------------------------------

// libavro 1.11.1 mallocs a string's declared length + 1 before it reads the bytes and
// leaks it when they are not there (a declared length of gigabytes is a huge malloc),
// and it lets NUL and invalid UTF-8 through in strings, which Encode, PostgreSQL text
// and http::ObjectReader refuse (a handler would fail on every redelivery instead of
// the event going to the dead letters). So Decode first walks the writer schema over
// the bytes, allocating nothing, and hands libavro only exactly one well-formed record
// in the encoding libavro writes (which also makes the check of its size redundant).

// The schema as the walk needs it, built once per schema: libavro looks record fields
// and union branches up in hash tables, which would cost more than the walk itself.
struct WalkNode {
    avro_type_t type = AVRO_NULL;
    std::int64_t n = 0;                  // fixed: size; enum: symbols
    std::vector<const WalkNode*> items;  // record: fields; union: branches; array/map: 1
    std::vector<const char*> names;      // record: field names (owned by the avro schema)
    bool zero_width = false;             // takes no bytes (null, empty record, fixed 0)
};

class WalkSchema {
public:
    explicit WalkSchema(avro_schema_t schema) { root_ = Build(schema); }
    const WalkNode* Root() const { return root_; }

private:
    const WalkNode* Build(avro_schema_t schema) {
        if (avro_typeof(schema) == AVRO_LINK) schema = avro_schema_link_target(schema);
        if (const auto it = built_.find(schema); it != built_.end()) return it->second;
        nodes_.push_back(std::make_unique<WalkNode>());
        WalkNode* node = nodes_.back().get();
        built_.emplace(schema, node);  // before the children: a recursive record finds itself
        node->type = avro_typeof(schema);
        switch (node->type) {
            case AVRO_NULL:
                node->zero_width = true;
                break;
            case AVRO_FIXED:
                node->n = avro_schema_fixed_size(schema);
                node->zero_width = node->n == 0;
                break;
            case AVRO_ENUM:
                node->n = avro_schema_enum_number_of_symbols(schema);
                break;
            case AVRO_UNION:
                for (std::size_t i = 0; i < avro_schema_union_size(schema); ++i)
                    node->items.push_back(
                        Build(avro_schema_union_branch(schema, static_cast<int>(i))));
                break;
            case AVRO_ARRAY:
                node->items.push_back(Build(avro_schema_array_items(schema)));
                break;
            case AVRO_MAP:
                node->items.push_back(Build(avro_schema_map_values(schema)));
                break;
            case AVRO_RECORD: {
                node->zero_width = true;
                for (std::size_t i = 0; i < avro_schema_record_size(schema); ++i) {
                    const int index = static_cast<int>(i);
                    const WalkNode* field =
                        Build(avro_schema_record_field_get_by_index(schema, index));
                    node->items.push_back(field);
                    node->names.push_back(avro_schema_record_field_name(schema, index));
                    // A field that is the record itself (in progress) counts as not empty.
                    node->zero_width = node->zero_width && field != node && field->zero_width;
                }
                break;
            }
            default:
                break;
        }
        return node;
    }

    const WalkNode* root_ = nullptr;
    std::vector<std::unique_ptr<WalkNode>> nodes_;
    std::unordered_map<avro_schema_t, const WalkNode*> built_;
};

class Walker {
public:
    Walker(std::string_view bytes, const std::string& topic)
        : p_(reinterpret_cast<const unsigned char*>(bytes.data())),
          end_(p_ + bytes.size()),
          topic_(topic) {}

    void Record(const WalkNode* root) {
        Value(root, 0);
        field_ = nullptr;
        if (p_ != end_) Fail(std::to_string(end_ - p_) + " bytes after the end of the record");
    }

private:
    static constexpr int kMaxDepth = 64;
    // Items of zero width (null, empty records) cost libavro memory but no bytes.
    static constexpr std::int64_t kMaxEmptyItems = 1 << 16;

    [[noreturn]] void Fail(const std::string& why) const {
        std::string what = "payload does not decode as " + topic_ + ": ";
        if (field_ != nullptr) what += std::string("field ") + field_ + ": ";
        throw DecodeError(what + why);
    }

    std::size_t Left() const { return static_cast<std::size_t>(end_ - p_); }

    // A zig-zag varint of at most `max_bytes` bytes, in its shortest form (below).
    std::int64_t Varint(int max_bytes) {
        std::uint64_t u = 0;
        for (int i = 0;; ++i) {
            if (i == max_bytes) Fail("varint longer than " + std::to_string(max_bytes) + " bytes");
            if (p_ == end_) Fail("truncated in a number");
            const unsigned char b = *p_++;
            if (i == 9 && b > 1) Fail("varint overflows 64 bits");
            u |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
            if ((b & 0x80) != 0) continue;
            if (b == 0 && i > 0) Fail("varint not in its shortest form");
            break;
        }
        return static_cast<std::int64_t>(u >> 1) ^ -static_cast<std::int64_t>(u & 1);
    }
    std::int64_t Long() { return Varint(10); }
    std::int32_t Int() {
        const std::int64_t n = Varint(5);
        if (n < INT32_MIN || n > INT32_MAX) Fail("int out of range");
        return static_cast<std::int32_t>(n);
    }

    void Skip(std::size_t n, const char* what) {
        if (n > Left()) Fail(std::string("truncated in a ") + what);
        p_ += n;
    }

    // A length-prefixed string or bytes; returns the bytes.
    std::string_view Sized(const char* what) {
        const std::int64_t n = Long();
        if (n < 0) Fail(std::string("negative ") + what + " length " + std::to_string(n));
        if (static_cast<std::uint64_t>(n) > Left())
            Fail(std::string(what) + " length " + std::to_string(n) + " overruns the " +
                 std::to_string(Left()) + " bytes left");
        const std::string_view out(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
        p_ += n;
        return out;
    }

    void String() {
        const std::string_view s = Sized("string");
        if (s.find('\0') != std::string_view::npos) Fail("NUL in string");
        if (!IsValidUtf8(s)) Fail("string is not UTF-8");
    }

    // The items of an array or map: one block (count, items) then 0, or just 0 when
    // empty. Avro allows more blocks and negative counts followed by a byte size, but
    // libavro writes neither: they are refused (below) rather than walked.
    void Blocks(const WalkNode* items, bool map, int depth) {
        const std::int64_t count = Long();
        if (count == 0) return;
        if (count < 0) Fail("block count " + std::to_string(count) + " (blocks with a byte size)");
        // Each item takes a byte at least, unless it is of zero width.
        if (static_cast<std::uint64_t>(count) > Left() &&
            (map || !items->zero_width || count > kMaxEmptyItems))
            Fail("block count " + std::to_string(count) + " overruns the " +
                 std::to_string(Left()) + " bytes left");
        for (std::int64_t i = 0; i < count; ++i) {
            if (map) String();
            Value(items, depth + 1);
        }
        if (Long() != 0) Fail("more than one block");
    }

    void Value(const WalkNode* node, int depth) {
        if (depth > kMaxDepth) Fail("nested deeper than " + std::to_string(kMaxDepth));
        switch (node->type) {
            case AVRO_NULL:
                return;
            case AVRO_BOOLEAN:
                if (p_ == end_) Fail("truncated in a boolean");
                if (*p_ > 1) Fail("boolean byte " + std::to_string(*p_));
                ++p_;
                return;
            case AVRO_INT32:
                Int();
                return;
            case AVRO_INT64:
                Long();
                return;
            case AVRO_FLOAT:
                return Skip(4, "float");
            case AVRO_DOUBLE:
                return Skip(8, "double");
            case AVRO_STRING:
                return String();
            case AVRO_BYTES:
                Sized("bytes");
                return;
            case AVRO_FIXED:
                return Skip(static_cast<std::size_t>(node->n), "fixed");
            case AVRO_ENUM: {
                const std::int32_t index = Int();
                if (index < 0 || index >= node->n)
                    Fail("enum index " + std::to_string(index) + " out of range");
                return;
            }
            case AVRO_UNION: {
                const std::int64_t index = Long();
                if (index < 0 || static_cast<std::uint64_t>(index) >= node->items.size())
                    Fail("union branch " + std::to_string(index) + " out of range");
                return Value(node->items[static_cast<std::size_t>(index)], depth + 1);
            }
            case AVRO_ARRAY:
                return Blocks(node->items.front(), false, depth);
            case AVRO_MAP:
                return Blocks(node->items.front(), true, depth);
            case AVRO_RECORD: {
                const char* outer = field_;
                for (std::size_t i = 0; i < node->items.size(); ++i) {
                    field_ = node->names[i];
                    Value(node->items[i], depth + 1);
                }
                field_ = outer;
                return;
            }
            default:
                Fail("unsupported Avro type " + std::to_string(node->type));
        }
    }

    const unsigned char* p_;
    const unsigned char* const end_;
    const std::string& topic_;
    const char* field_ = nullptr;  // the innermost record field being walked, for errors
};

// A generic value of one schema, reused by one thread (libavro values are not shared).
struct Scratch {
    avro_value_iface_t* iface = nullptr;
    avro_value_t value{};
    ~Scratch() {
        if (iface != nullptr) {
            avro_value_decref(&value);
            avro_value_iface_decref(iface);
        }
    }
};

}  // namespace

struct Codec::Entry {
    std::string topic;
    std::string json;
    std::string fingerprint;
    avro_schema_t schema = nullptr;
    // A reader (the topic's own schema): its shape, for reading other writers' values.
    std::unique_ptr<ReaderShape> shape;
    // What Decode walks over the bytes before libavro reads them (see Walker).
    std::unique_ptr<WalkSchema> walk;
    // A writer (another version): the reader it resolves into.
    const Entry* reader = nullptr;
    // Keys the threads' scratch values: an address may be reused by a later codec's entry.
    const std::uint64_t id = NextId();

    ~Entry() {
        if (schema != nullptr) avro_schema_decref(schema);
    }

    static std::uint64_t NextId() {
        static std::atomic<std::uint64_t> next{0};
        return ++next;
    }

    // The calling thread's reusable value for this schema, reset.
    avro_value_t* Value() const {
        thread_local std::unordered_map<std::uint64_t, std::unique_ptr<Scratch>> scratch;
        auto& slot = scratch[id];
        if (!slot) {
            auto fresh = std::make_unique<Scratch>();
            fresh->iface = avro_generic_class_from_schema(schema);
            if (fresh->iface == nullptr || avro_generic_value_new(fresh->iface, &fresh->value) != 0)
                throw SchemaError(AvroError("cannot instantiate schema " + topic));
            slot = std::move(fresh);
        }
        avro_value_reset(&slot->value);
        return &slot->value;
    }

    // Decodes bytes written with this schema into JSON.
    json::value DecodeBytes(std::string_view bytes) const {
        Walker(bytes, topic).Record(walk->Root());  // throws DecodeError; see Walker
        avro_value_t* value = Value();
        avro_reader_t reader =
            avro_reader_memory(bytes.data(), static_cast<std::int64_t>(bytes.size()));
        const int rc = avro_value_read(reader, value);
        avro_reader_free(reader);
        if (rc != 0) throw DecodeError(AvroError("payload does not decode as " + topic));
        // The walk refused trailing bytes (the writer used another schema: refuse rather
        // than guess) and any encoding libavro would not write (non-shortest varints,
        // several blocks): what decodes encodes back to the same length.
        return Get(value);
    }
};

// Parses a schema; its topic is its full name, which must be `topic` when one is given.
std::unique_ptr<Codec::Entry> Codec::Compile(std::string_view topic, std::string_view json) const {
    auto entry = std::make_unique<Entry>();
    entry->json = std::string(json);
    const std::string label =
        topic.empty() ? std::string("schema") : "schema " + std::string(topic);
    if (avro_schema_from_json_length(entry->json.data(), entry->json.size(), &entry->schema) != 0)
        throw SchemaError(AvroError(label + " does not parse"));
    const char* name = avro_schema_name(entry->schema);
    const char* ns = avro_schema_namespace(entry->schema);
    entry->topic = (ns && *ns ? std::string(ns) + "." : "") + (name ? name : "");
    if (!topic.empty() && entry->topic != topic)
        throw SchemaError(label + ": its name must be the topic, is " + entry->topic);
    entry->fingerprint = FingerprintOf(entry->json);
    entry->walk = std::make_unique<WalkSchema>(entry->schema);
    return entry;
}

Codec::Codec(std::span<const SchemaSource> sources, std::span<const SchemaSource> writers) {
    for (const auto& source : sources) {
        auto entry = Compile(source.topic, source.json);
        entry->shape = std::make_unique<ReaderShape>(entry->json);
        entries_.emplace(entry->topic, std::move(entry));
    }
    for (const auto& writer : writers) {
        try {
            Learn(writer.json);
        } catch (const SchemaError& e) {
            throw SchemaError("writer schema " + std::string(writer.topic) + ": " + e.what());
        }
    }
}

Codec::~Codec() = default;

const Codec& Codec::Embedded() {
    static const Codec codec(EmbeddedSchemas(), EmbeddedReleasedSchemas());
    return codec;
}

bool Codec::Has(std::string_view topic) const { return entries_.find(topic) != entries_.end(); }

std::vector<std::string> Codec::Topics() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& kv : entries_) out.push_back(kv.first);
    return out;
}

const Codec::Entry& Codec::Find(std::string_view topic) const {
    const auto it = entries_.find(topic);
    if (it == entries_.end()) throw SchemaError("no schema for topic " + std::string(topic));
    return *it->second;
}

const std::string& Codec::Fingerprint(std::string_view topic) const {
    return Find(topic).fingerprint;
}
const std::string& Codec::SchemaJson(std::string_view topic) const { return Find(topic).json; }

std::string Codec::Encode(std::string_view topic, const json::value& payload) const {
    const Entry& entry = Find(topic);
    avro_value_t* value = entry.Value();
    try {
        Set(value, payload, "");
    } catch (const SchemaError& e) {
        throw SchemaError(entry.topic + ": " + e.what());
    }
    std::size_t size = 0;
    if (avro_value_sizeof(value, &size) != 0) throw SchemaError(AvroError(entry.topic));
    std::string out(size, '\0');
    avro_writer_t writer = avro_writer_memory(out.data(), static_cast<std::int64_t>(out.size()));
    const int rc = avro_value_write(writer, value);
    avro_writer_free(writer);
    if (rc != 0) throw SchemaError(AvroError(entry.topic));
    return out;
}

json::value Codec::Decode(std::string_view topic, std::string_view bytes) const {
    const Entry* entry = nullptr;
    try {
        entry = &Find(topic);
    } catch (const SchemaError& e) {
        throw DecodeError(e.what());
    }
    return entry->DecodeBytes(bytes);
}

json::value Codec::Decode(std::string_view topic, std::string_view bytes,
                          std::string_view writer) const {
    const Entry* reader = nullptr;
    try {
        reader = &Find(topic);
    } catch (const SchemaError& e) {
        throw DecodeError(e.what());
    }
    if (writer.empty() || writer == reader->fingerprint) return reader->DecodeBytes(bytes);
    const Entry* entry = FindWriter(writer);
    if (entry == nullptr)
        throw UnknownSchemaError(std::string(topic), std::string(writer),
                                 "neither embedded nor learned");
    if (entry->reader != reader)
        throw DecodeError("written with schema " + std::string(writer) + ", which is " +
                          entry->topic + "'s, not " + reader->topic + "'s");
    return reader->shape->Read(entry->DecodeBytes(bytes));
}

const Codec::Entry* Codec::FindWriter(std::string_view fingerprint) const {
    std::lock_guard lock(writers_mutex_);
    const auto it = writers_.find(fingerprint);
    return it == writers_.end() ? nullptr : it->second.get();  // never erased: stays valid
}

bool Codec::KnowsWriter(std::string_view fingerprint) const {
    for (const auto& kv : entries_)
        if (kv.second->fingerprint == fingerprint) return true;
    return FindWriter(fingerprint) != nullptr;
}

std::string Codec::Learn(std::string_view schema_json) const {
    auto writer = Compile("", schema_json);
    const auto it = entries_.find(writer->topic);
    if (it == entries_.end())
        throw SchemaError("schema " + writer->fingerprint + " is of " + writer->topic +
                          ", which this codec does not read");
    const Entry& reader = *it->second;
    if (writer->fingerprint == reader.fingerprint) return reader.fingerprint;
    std::string why;
    if (!CanRead(reader.json, writer->json, &why))
        throw SchemaError("schema " + writer->fingerprint + " of " + writer->topic +
                          " does not resolve into this reader's (" + why + ")");
    writer->reader = &reader;
    std::string fingerprint = writer->fingerprint;
    std::lock_guard lock(writers_mutex_);
    writers_.try_emplace(fingerprint, std::move(writer));
    return fingerprint;
}

}  // namespace keel::bus
