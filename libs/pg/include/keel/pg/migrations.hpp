#pragma once
#include <span>
#include <stdexcept>
#include <string>

#include <keel/pg/pool.hpp>

namespace keel::pg {

/// One versioned schema change (migrations/NNNN_name.sql, embedded at build time).
struct Migration {
    int version;
    const char* name;
    const char* sql;
};

/// A migration that was applied has since been edited, or the set is inconsistent.
class MigrationError final : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Applies the migrations not yet recorded in keel_schema_migrations, each in its own
/// transaction, in version order, holding a PostgreSQL advisory lock named after
/// `service` so that instances starting together apply each exactly once. Throws
/// MigrationError when an applied migration's checksum no longer matches its text.
Task<int> Migrate(Pool& pool, std::span<const Migration> migrations, const std::string& service);

}  // namespace keel::pg
