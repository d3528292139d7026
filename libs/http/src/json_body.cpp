#include <keel/http/json_body.hpp>

#include <algorithm>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <keel/core/log.hpp>

namespace keel::http {

boost::json::object ParseJsonObject(const Request& request) {
    const auto type = request[beast_http::field::content_type];
    if (!type.starts_with("application/json")) {
        throw HttpError(Status::unsupported_media_type, "the body must be application/json");
    }
    boost::system::error_code ec;
    boost::json::value value = boost::json::parse(request.body(), ec);
    if (ec) throw HttpError(Status::bad_request, "malformed JSON: " + ec.message());
    if (!value.is_object()) throw HttpError(Status::bad_request, "the body must be a JSON object");
    return std::move(value.as_object());
}

const boost::json::value* ObjectReader::Take(std::string_view key, bool required) {
    read_.emplace_back(key);
    const auto* value = object_.if_contains(key);
    if (!value || value->is_null()) {
        if (required) AddProblem(std::string(key), "is required");
        return nullptr;
    }
    return value;
}

std::optional<std::string> ObjectReader::String(std::string_view key, bool required,
                                                std::size_t min_len, std::size_t max_len) {
    const auto* value = Take(key, required);
    if (!value) return std::nullopt;
    if (!value->is_string()) {
        AddProblem(std::string(key), "must be a string");
        return std::nullopt;
    }
    std::string text(value->as_string());
    if (text.size() < min_len || text.size() > max_len) {
        AddProblem(std::string(key), "must be " + std::to_string(min_len) + " to " +
                                         std::to_string(max_len) + " bytes long");
        return std::nullopt;
    }
    if (text.find('\0') != std::string::npos) {
        AddProblem(std::string(key), "must not contain NUL characters");
        return std::nullopt;
    }
    return text;
}

std::optional<std::int64_t> ObjectReader::Int(std::string_view key, bool required, std::int64_t min,
                                              std::int64_t max) {
    const auto* value = Take(key, required);
    if (!value) return std::nullopt;
    std::int64_t number = 0;
    if (value->is_int64()) {
        number = value->as_int64();
    } else if (value->is_uint64() && value->as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
        number = static_cast<std::int64_t>(value->as_uint64());
    } else {
        AddProblem(std::string(key), "must be an integer");
        return std::nullopt;
    }
    if (number < min || number > max) {
        AddProblem(std::string(key),
                   "must be between " + std::to_string(min) + " and " + std::to_string(max));
        return std::nullopt;
    }
    return number;
}

const boost::json::value* ObjectReader::Raw(std::string_view key) { return Take(key, false); }

void ObjectReader::AddProblem(std::string field, std::string problem) {
    problems_.emplace_back(std::move(field), std::move(problem));
}

void ObjectReader::Finish() {
    for (const auto& member : object_) {
        if (std::find(read_.begin(), read_.end(), member.key()) == read_.end()) {
            AddProblem(std::string(member.key()), "is not a known field");
        }
    }
    if (problems_.empty()) return;
    std::string errors = "\"errors\":[";
    std::string detail;
    for (std::size_t i = 0; i < problems_.size(); ++i) {
        if (i) {
            errors.push_back(',');
            detail += "; ";
        }
        errors += "{\"field\":";
        json::AppendQuoted(errors, problems_[i].first);
        errors += ",\"problem\":";
        json::AppendQuoted(errors, problems_[i].second);
        errors += "}";
        detail += problems_[i].first + " " + problems_[i].second;
    }
    errors += "]";
    throw HttpError(Status::unprocessable_entity, detail, errors);
}

std::string ToJson(const boost::json::value& value) { return boost::json::serialize(value); }

}  // namespace keel::http
