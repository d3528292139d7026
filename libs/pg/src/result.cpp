#include <keel/pg/result.hpp>

#include <libpq-fe.h>

#include <charconv>
#include <utility>

namespace keel::pg {

bool QueryError::IsTransientSqlState(std::string_view sqlstate) {
    if (sqlstate.size() != 5) return false;
    const auto cls = sqlstate.substr(0, 2);
    if (cls == "08" || cls == "53") return true;
    return sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03" ||
           sqlstate == "57014" || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

bool IsTransient(const std::exception& error) {
    if (dynamic_cast<const UnavailableError*>(&error) != nullptr) return true;
    const auto* query = dynamic_cast<const QueryError*>(&error);
    return query != nullptr && query->IsTransient();
}

Result::Result(pg_result* result) : result_(result) {}
Result::~Result() {
    if (result_) PQclear(result_);
}
Result::Result(Result&& other) noexcept : result_(std::exchange(other.result_, nullptr)) {}
Result& Result::operator=(Result&& other) noexcept {
    if (this != &other) {
        if (result_) PQclear(result_);
        result_ = std::exchange(other.result_, nullptr);
    }
    return *this;
}

int Result::Rows() const { return result_ ? PQntuples(result_) : 0; }
int Result::Columns() const { return result_ ? PQnfields(result_) : 0; }
bool Result::IsNull(int row, int column) const { return PQgetisnull(result_, row, column) != 0; }

std::string_view Result::Text(int row, int column) const {
    return {PQgetvalue(result_, row, column),
            static_cast<std::size_t>(PQgetlength(result_, row, column))};
}

std::optional<std::string> Result::OptionalText(int row, int column) const {
    if (IsNull(row, column)) return std::nullopt;
    return std::string(Text(row, column));
}

std::int64_t Result::Int(int row, int column) const {
    const auto text = Text(row, column);
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size()) {
        throw std::runtime_error("column " + std::to_string(column) +
                                 " is not an integer: " + std::string(text));
    }
    return value;
}

bool Result::Bool(int row, int column) const { return Text(row, column) == "t"; }

std::int64_t Result::Affected() const {
    const char* text = result_ ? PQcmdTuples(result_) : "";
    std::int64_t value = 0;
    std::from_chars(text, text + std::char_traits<char>::length(text), value);
    return value;
}

}  // namespace keel::pg
