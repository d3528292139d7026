// keel-bus outbox parked|unpark|republish: the outbox rows of one service, in its own
// PostgreSQL database (libs/bus creates bus_outbox; relay.cpp parks and publishes).
// Plain blocking libpq: one short statement per command.
#include <libpq-fe.h>

#include <cctype>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include <boost/json/serialize.hpp>

#include "commands.hpp"
#include "errors.hpp"
#include "text.hpp"

namespace keel::bus_tool {
namespace {

using Conn = std::unique_ptr<PGconn, void (*)(PGconn*)>;
using ResultPtr = std::unique_ptr<PGresult, void (*)(PGresult*)>;

void RequireService(const std::string& service) {
    const bool valid =
        !service.empty() && service.size() <= 63 && service[0] >= 'a' && service[0] <= 'z' &&
        service.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos;
    if (!valid)
        throw UsageError("--service \"" + service +
                         "\": expected a service name (lower case letters, digits, _ or -)");
}

std::string EnvOr(const std::string& name, const std::string& fallback) {
    const char* value = std::getenv(name.c_str());
    return value != nullptr && *value != '\0' ? value : fallback;
}

// --db, else $PG_DSN (a service's own environment), else the local stack's database of
// the service as deploy/compose/app.yaml gives it to the service natively.
std::string DsnOf(const OutboxOptions& options) {
    if (!options.db.empty()) return options.db;
    std::string upper;
    for (const char c : options.service)
        upper += c == '-' ? '_' : static_cast<char>(std::toupper(c));
    return "host=127.0.0.1 port=" + EnvOr("PG_PORT", "54329") + " dbname=" + options.service +
           " user=" + options.service +
           " password=" + EnvOr(upper + "_DB_PASSWORD", options.service) + " connect_timeout=5";
}

// The DSN without its secrets, for error messages: only where it points, whatever its
// form (key=value or a postgresql:// URI, whose password sits in the authority).
std::string Printable(const std::string& dsn) {
    char* error = nullptr;
    PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
    if (error != nullptr) PQfreemem(error);
    if (options == nullptr) return "an unparsable DSN";
    std::string out;
    for (const std::string_view key : {"host", "hostaddr", "port", "dbname", "user"}) {
        for (const auto* o = options; o->keyword != nullptr; ++o) {
            if (key != o->keyword || o->val == nullptr || *o->val == '\0') continue;
            out += (out.empty() ? "" : " ") + std::string(key) + "=" + o->val;
        }
    }
    PQconninfoFree(options);
    return out;
}

Conn Connect(const OutboxOptions& options) {
    RequireService(options.service);
    const auto dsn = DsnOf(options);
    Conn conn(PQconnectdb(dsn.c_str()), PQfinish);
    if (PQstatus(conn.get()) != CONNECTION_OK) {
        std::string error = PQerrorMessage(conn.get());
        while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
        throw ToolError("cannot reach the database of " + options.service + " (" + Printable(dsn) +
                        "; --db DSN or PG_DSN to choose another): " + error);
    }
    return conn;
}

ResultPtr Run(PGconn* conn, const std::string& service, const char* sql,
              const std::vector<std::string>& params) {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    ResultPtr result(PQexecParams(conn, sql, static_cast<int>(values.size()), nullptr,
                                  values.data(), nullptr, nullptr, 0),
                     PQclear);
    const auto status = PQresultStatus(result.get());
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) return result;
    const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
    if (state != nullptr && std::string(state) == "42P01")
        throw ToolError("the database has no bus_outbox: is it " + service +
                        "'s, and has the service run once?");
    if (state != nullptr && std::string(state) == "42703")
        throw ToolError("bus_outbox has no parked_at column: start " + service +
                        " once with this version (the bus adds it at start)");
    std::string error = PQresultErrorMessage(result.get());
    while (!error.empty() && error.back() == '\n') error.pop_back();
    throw ToolError("query failed: " + error);
}

std::string Cell(PGresult* r, int row, int column) {
    return PQgetisnull(r, row, column) ? "" : PQgetvalue(r, row, column);
}

constexpr const char* kParkedSql =
    "SELECT seq, event_id, topic, to_char(created_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), to_char(parked_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), length(payload), park_error "
    "FROM bus_outbox WHERE parked_at IS NOT NULL ORDER BY seq";

}  // namespace

int OutboxParked(const OutboxOptions& options) {
    auto conn = Connect(options);
    auto r = Run(conn.get(), options.service, kParkedSql, {});
    const int rows = PQntuples(r.get());
    if (options.json) {
        boost::json::array out;
        for (int i = 0; i < rows; ++i)
            out.push_back(boost::json::object{{"seq", std::stoll(Cell(r.get(), i, 0))},
                                              {"event_id", Cell(r.get(), i, 1)},
                                              {"topic", Cell(r.get(), i, 2)},
                                              {"created_at", Cell(r.get(), i, 3)},
                                              {"parked_at", Cell(r.get(), i, 4)},
                                              {"payload_bytes", std::stoll(Cell(r.get(), i, 5))},
                                              {"error", Cell(r.get(), i, 6)}});
        std::cout << boost::json::serialize(out) << '\n';
        return 0;
    }
    if (rows == 0) {
        std::cout << "no parked events in " << options.service << "'s outbox\n";
        return 0;
    }
    Table table({"SEQ", "EVENT_ID", "TOPIC", "CREATED_AT", "PARKED_AT", "BYTES", "ERROR"},
                {true, false, false, false, false, true, false});
    for (int i = 0; i < rows; ++i)
        table.Add({Cell(r.get(), i, 0), Cell(r.get(), i, 1), Cell(r.get(), i, 2),
                   Cell(r.get(), i, 3), Cell(r.get(), i, 4), Cell(r.get(), i, 5),
                   Cell(r.get(), i, 6)});
    table.Print(std::cout);
    return 0;
}

namespace {

// A parked row by its outbox seq or its event id.
constexpr const char* kUnparkOneSql =
    "UPDATE bus_outbox SET parked_at = NULL, park_error = NULL WHERE parked_at IS NOT NULL AND "
    "(CASE WHEN $1 ~ '^[0-9]{1,18}$' THEN seq = $1::bigint ELSE event_id::text = lower($1) END) "
    "RETURNING seq, event_id";
constexpr const char* kUnparkAllSql =
    "UPDATE bus_outbox SET parked_at = NULL, park_error = NULL WHERE parked_at IS NOT NULL "
    "RETURNING seq, event_id";

bool IsSeqOrUuid(const std::string& id) {
    if (!id.empty() && id.size() <= 18 && id.find_first_not_of("0123456789") == std::string::npos)
        return true;
    if (id.size() != 36) return false;
    for (std::size_t i = 0; i < id.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? id[i] != '-' : !std::isxdigit(static_cast<unsigned char>(id[i]))) return false;
    }
    return true;
}

}  // namespace

int OutboxUnpark(const OutboxOptions& options) {
    if (options.all == !options.ids.empty())
        throw UsageError("outbox unpark: give the events (outbox seq or event id) or --all");
    for (const auto& id : options.ids)
        if (!IsSeqOrUuid(id))
            throw UsageError("outbox unpark: \"" + id +
                             "\" is neither an outbox seq nor an event id");
    auto conn = Connect(options);
    std::vector<std::string> missing;
    int unparked = 0;
    auto report = [&](PGresult* r) {
        for (int i = 0; i < PQntuples(r); ++i, ++unparked)
            std::cout << "seq " << Cell(r, i, 0) << ": event " << Cell(r, i, 1)
                      << " back in the queue\n";
    };
    if (options.all) {
        report(Run(conn.get(), options.service, kUnparkAllSql, {}).get());
    } else {
        for (const auto& id : options.ids) {
            auto r = Run(conn.get(), options.service, kUnparkOneSql, {id});
            if (PQntuples(r.get()) == 0) missing.push_back(id);
            report(r.get());
        }
    }
    std::cout << "unparked " << unparked << " event" << (unparked == 1 ? "" : "s")
              << "; the relay tries them again (a cause not fixed parks them again)\n";
    if (missing.empty()) return 0;
    std::string list;
    for (const auto& id : missing) list += (list.empty() ? "" : ", ") + id;
    throw ToolError("not parked in " + options.service + "'s outbox: " + list);
}

namespace {

std::int64_t TimeOption(const char* name, const std::string& text) {
    const auto ns = ParseTime(text);
    if (!ns)
        throw UsageError(std::string(name) + " \"" + text +
                         "\": expected an RFC 3339 time, e.g. 2024-05-01T12:00:00Z");
    return *ns;
}

// Only published rows (a parked or pending row is not touched); published_at in
// [since, until). The relay picks them up at its next poll.
constexpr const char* kRepublishSql =
    "UPDATE bus_outbox SET published_at = NULL WHERE published_at >= to_timestamp($1::float8 / "
    "1e6) AND published_at < to_timestamp($2::float8 / 1e6)";
constexpr const char* kLeaseSql =
    "SELECT holder FROM bus_relay_lease WHERE expires_at > clock_timestamp()";

}  // namespace

int OutboxRepublish(const OutboxOptions& options) {
    const auto since = TimeOption("--since", options.since);
    const bool bounded = !options.until.empty();
    const std::int64_t until = bounded ? TimeOption("--until", options.until) : 0;
    if (bounded && until <= since) throw UsageError("--until must be later than --since");
    auto conn = Connect(options);
    // Microseconds as text: PostgreSQL's resolution (year 9999 when unbounded).
    const auto upper = bounded ? until / 1000 : std::int64_t{253402300799} * 1'000'000;
    auto r = Run(conn.get(), options.service, kRepublishSql,
                 {std::to_string(since / 1000), std::to_string(upper)});
    const std::string marked = PQcmdTuples(r.get());
    std::cout << "marked " << marked << " published event" << (marked == "1" ? "" : "s") << " of "
              << options.service << "'s outbox (published from " << FormatTime(since)
              << (bounded ? " until " + FormatTime(until) : std::string(" on"))
              << ") unpublished\n";
    auto lease = Run(conn.get(), options.service, kLeaseSql, {});
    if (PQntuples(lease.get()) == 1)
        std::cout << "relay " << Cell(lease.get(), 0, 0)
                  << " republishes them; JetStream drops copies within its duplicate window, "
                     "consumers' inboxes the rest\n";
    else
        std::cout << "no instance of " << options.service
                  << " relays right now: they go out when one runs\n";
    return 0;
}

}  // namespace keel::bus_tool
