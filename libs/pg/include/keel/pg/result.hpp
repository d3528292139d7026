#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <keel/core/unavailable.hpp>

struct pg_result;  // libpq's PGresult, kept out of public headers

namespace keel::pg {

/// A statement failed on the server. SqlState() is the five-character SQLSTATE.
class QueryError final : public std::runtime_error {
public:
    QueryError(std::string sqlstate, const std::string& message)
        : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
    const std::string& SqlState() const { return sqlstate_; }
    bool IsUniqueViolation() const { return sqlstate_ == "23505"; }
    bool IsSerializationFailure() const { return sqlstate_ == "40001" || sqlstate_ == "40P01"; }
    /// True when trying the same statement later can succeed without any change of
    /// data or code: connection exceptions (class 08), serialization failures and
    /// deadlocks (40001, 40P01), lock_not_available (55P03, also lock_timeout),
    /// query_canceled (57014, also statement_timeout), the server shutting down or
    /// starting (57P01-57P03), insufficient resources (class 53).
    bool IsTransient() const { return IsTransientSqlState(sqlstate_); }
    static bool IsTransientSqlState(std::string_view sqlstate);

private:
    std::string sqlstate_;
};

/// The server cannot be reached or the connection broke.
class ConnectionError final : public UnavailableError {
public:
    using UnavailableError::UnavailableError;
};

/// True for failures that are the environment's, not the caller's: UnavailableError
/// (ConnectionError, an exhausted pool, NATS away) and transient QueryErrors (see
/// QueryError::IsTransient). Consumers retry those for as long as they last instead
/// of counting them as handler failures.
bool IsTransient(const std::exception& error);

/// A statement parameter in text format; nullopt is SQL NULL.
using Param = std::optional<std::string>;
inline Param P(std::string_view text) { return std::string(text); }
inline Param P(const char* text) { return std::string(text); }
inline Param P(std::int64_t number) { return std::to_string(number); }
inline Param P(int number) { return std::to_string(number); }
inline Param P(bool flag) { return std::string(flag ? "true" : "false"); }
inline Param P(const std::string& text) { return text; }
inline Param P(std::string&& text) { return std::move(text); }
inline Param P(Param param) { return param; }
inline Param P(std::nullopt_t) { return std::nullopt; }
inline Param Null() { return std::nullopt; }

/// Rows of a completed statement, in text format. Move-only; owns the PGresult.
class Result final {
public:
    Result() = default;
    explicit Result(pg_result* result);
    ~Result();
    Result(Result&&) noexcept;
    Result& operator=(Result&&) noexcept;

    int Rows() const;
    int Columns() const;
    bool IsNull(int row, int column) const;
    std::string_view Text(int row, int column) const;
    std::optional<std::string> OptionalText(int row, int column) const;
    std::int64_t Int(int row, int column) const;
    bool Bool(int row, int column) const;
    /// Rows changed by INSERT/UPDATE/DELETE.
    std::int64_t Affected() const;

private:
    pg_result* result_ = nullptr;
};

}  // namespace keel::pg
