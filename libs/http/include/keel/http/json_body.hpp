#pragma once
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <keel/http/message.hpp>

namespace keel::http {

/// Parses a request body as one JSON object. Throws HttpError 415 when the content
/// type is not JSON and 400 when the body is not well-formed JSON or not an object.
boost::json::object ParseJsonObject(const Request& request);

/// Strict reading of a JSON object: typed fields with limits, and every member that
/// is not read counts as an unknown field. Problems are collected so the client sees
/// all of them in one 422 (`errors: [{field, problem}]`) thrown by Finish().
class ObjectReader final {
public:
    explicit ObjectReader(const boost::json::object& object) : object_(object) {}

    std::optional<std::string> String(std::string_view key, bool required, std::size_t min_len,
                                      std::size_t max_len);
    std::optional<std::int64_t> Int(std::string_view key, bool required, std::int64_t min,
                                    std::int64_t max);
    /// The raw value (nullptr when absent), marked as read; the caller checks it.
    const boost::json::value* Raw(std::string_view key);
    void AddProblem(std::string field, std::string problem);
    /// Throws HttpError 422 when there were problems or unknown members.
    void Finish();

private:
    const boost::json::value* Take(std::string_view key, bool required);

    const boost::json::object& object_;
    std::vector<std::string> read_;
    std::vector<std::pair<std::string, std::string>> problems_;
};

/// Serialises a JSON value to text.
std::string ToJson(const boost::json::value& value);

}  // namespace keel::http
