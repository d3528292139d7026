// keel-bus: look into and operate the keel event bus (NATS JetStream). See README.md.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <vector>

#include "commands.hpp"
#include "errors.hpp"

namespace bt = keel::bus_tool;

namespace {

// Digits only (CLI11 2.1 would read "-1" into an unsigned as a huge number).
CLI::Validator Integer(bool allow_zero) {
    return CLI::Validator(
        [allow_zero](std::string& text) -> std::string {
            const bool digits = !text.empty() && text.size() < 20 &&
                                text.find_first_not_of("0123456789") == std::string::npos;
            if (!digits || (!allow_zero && std::stoull(text) == 0))
                return allow_zero ? "expected an integer >= 0, got " + text
                                  : "expected an integer >= 1, got " + text;
            return "";
        },
        allow_zero ? "INTEGER>=0" : "INTEGER>=1");
}

// Seconds, more than 0 (CLI11's PositiveNumber prints its whole double range).
CLI::Validator Seconds() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            char* end = nullptr;
            const double value = std::strtod(text.c_str(), &end);
            if (text.empty() || *end != '\0' || !(value > 0) || value > 1e9)
                return "expected seconds > 0, got " + text;
            return "";
        },
        "SECONDS>0");
}

// A subcommand and what runs it once parsed. Options live in the closure.
struct Command {
    CLI::App* app;
    std::function<int(const std::string& server)> run;
};

Command AddTail(CLI::App& app) {
    auto options = std::make_shared<bt::TailOptions>();
    auto* tail =
        app.add_subcommand("tail", "Print a topic's messages as JSON lines, decoded, and follow");
    tail->add_option("topic", options->topic, "Topic (= Avro schema name = subject)")->required();
    auto* from_start =
        tail->add_flag("--from-start", options->from_start, "Start at the oldest message");
    tail->add_option("--last", options->last, "Start with the last N messages")
        ->check(Integer(true))
        ->excludes(from_start);
    tail->add_option("--count", options->count, "Stop after N messages")->check(Integer(false));
    tail->add_option("--timeout", options->timeout_s, "Stop after S seconds")->check(Seconds());
    return {tail, [options](const std::string& server) { return bt::Tail(server, *options); }};
}

Command AddTrail(CLI::App& app) {
    auto options = std::make_shared<bt::TrailOptions>();
    auto* trail = app.add_subcommand(
        "trail", "Every hop of a request's events across services, in start order");
    trail->add_option("id", options->id, "Correlation id (X-Request-Id) or event id")->required();
    trail->add_flag("--json", options->json, "JSON instead of a table");
    return {trail, [options](const std::string& server) { return bt::Trail(server, *options); }};
}

Command AddLag(CLI::App& app) {
    auto as_json = std::make_shared<bool>(false);
    auto* lag =
        app.add_subcommand("lag", "Pending and unacknowledged messages of every durable consumer");
    lag->add_flag("--json", *as_json, "JSON instead of a table");
    return {lag, [as_json](const std::string& server) { return bt::Lag(server, *as_json); }};
}

Command AddReplay(CLI::App& app) {
    auto options = std::make_shared<bt::ReplayOptions>();
    auto* replay = app.add_subcommand(
        "replay", "Recreate a durable consumer starting at a time or stream sequence");
    replay->add_option("consumer", options->consumer, "Durable name, <service>-<topic with _>")
        ->required();
    replay->add_option("--from", options->from, "RFC 3339 time or stream sequence")->required();
    replay->add_option("--stream", options->stream, "The consumer's stream (found when omitted)");
    return {replay, [options](const std::string& server) { return bt::Replay(server, *options); }};
}

// dlq list and dlq retry share their filters.
std::vector<Command> AddDlq(CLI::App& app) {
    auto options = std::make_shared<bt::DlqOptions>();
    auto* dlq = app.add_subcommand("dlq", "Dead letters");
    dlq->require_subcommand(1);
    auto* list = dlq->add_subcommand("list", "List dead letters");
    auto* retry =
        dlq->add_subcommand("retry", "Republish dead letters to their topic and delete them");
    for (auto* sub : {list, retry}) {
        sub->add_option("--topic", options->topic, "Only this topic's");
        sub->add_option("--seq", options->seq, "Only the dead letter with this DLQ stream sequence")
            ->check(Integer(false));
        sub->add_option("--consumer", options->consumer,
                        "Only those this durable consumer gave up on");
    }
    list->add_flag("--json", options->json, "JSON instead of a table");
    return {
        {list, [options](const std::string& server) { return bt::DlqList(server, *options); }},
        {retry, [options](const std::string& server) { return bt::DlqRetry(server, *options); }}};
}

Command AddPublish(CLI::App& app) {
    auto options = std::make_shared<bt::PublishOptions>();
    auto* publish =
        app.add_subcommand("publish", "Validate, encode and publish one event (fresh event id)");
    publish->add_option("topic", options->topic, "Topic")->required();
    publish->add_option("payload", options->payload, "The payload as JSON")->required();
    publish->add_option("--correlation-id", options->correlation_id, "Default: a new UUIDv7");
    publish->add_option("--schema", options->schema_file,
                        "Write with this version of the topic's schema (an .avsc file the "
                        "current one can read), registered for consumers first: rehearses a "
                        "producer on a new version");
    return {publish,
            [options](const std::string& server) { return bt::Publish(server, *options); }};
}

Command AddGraph(CLI::App& app) {
    auto options = std::make_shared<bt::GraphOptions>();
    auto* graph = app.add_subcommand(
        "graph", "Services, topics and their rates from the REGISTRY declarations");
    graph->add_option("--format", options->format, "dot or svg (Graphviz's dot -Tsvg)")
        ->check(CLI::IsMember({"dot", "svg"}))
        ->capture_default_str();
    graph->add_option("--output,-o", options->output, "File (default: stdout)");
    graph->add_flag("--rates,!--no-rates", options->rates,
                    "Label edges with messages/s (default on)");
    graph->add_option("--window", options->window_s, "Seconds to measure rates over")
        ->check(CLI::Range(0.1, 60.0))
        ->capture_default_str();
    return {graph, [options](const std::string& server) { return bt::Graph(server, *options); }};
}

// outbox parked / unpark / republish share --service and --db.
std::vector<Command> AddOutbox(CLI::App& app) {
    auto options = std::make_shared<bt::OutboxOptions>();
    auto* outbox = app.add_subcommand(
        "outbox", "A service's transactional outbox (in its PostgreSQL database)");
    outbox->require_subcommand(1);
    auto* parked =
        outbox->add_subcommand("parked", "List events the relay parked (they can never publish)");
    auto* unpark =
        outbox->add_subcommand("unpark", "Put parked events back for the relay to try again");
    auto* republish = outbox->add_subcommand(
        "republish",
        "Mark events published in a time window unpublished: the relay sends "
        "them again (after JetStream lost acknowledged data)");
    for (auto* sub : {parked, unpark, republish}) {
        sub->add_option("--service", options->service, "The service whose outbox")->required();
        sub->add_option("--db", options->db,
                        "libpq DSN of its database (default: $PG_DSN, else the local stack's "
                        "database of the service)")
            ->envname("PG_DSN");
    }
    parked->add_flag("--json", options->json, "JSON instead of a table");
    auto* ids = unpark->add_option("ids", options->ids, "Outbox seqs or event ids");
    unpark->add_flag("--all", options->all, "Every parked event")->excludes(ids);
    republish->add_option("--since", options->since, "RFC 3339 time: published at or after")
        ->required();
    republish->add_option("--until", options->until,
                          "RFC 3339 time: published before (default: now)");
    return {{parked, [options](const std::string&) { return bt::OutboxParked(*options); }},
            {unpark, [options](const std::string&) { return bt::OutboxUnpark(*options); }},
            {republish, [options](const std::string&) { return bt::OutboxRepublish(*options); }}};
}

// Runs the parsed subcommand: 2 for a usage error, 1 for any other failure.
int RunParsed(const std::vector<Command>& commands, const std::string& server) {
    try {
        for (const auto& command : commands)
            if (*command.app) return command.run(server);
    } catch (const bt::UsageError& e) {
        std::cerr << "keel-bus: " << e.what() << '\n';
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "keel-bus: " << e.what() << '\n';
        return 1;
    }
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Looks into and operates the keel event bus (NATS JetStream).", "keel-bus"};
    app.require_subcommand(1);
    app.fallthrough();  // --server also after the command
    std::string server = "nats://127.0.0.1:42229";
    app.add_option("--server", server, "NATS URL(s), comma-separated")
        ->envname("NATS_URL")
        ->capture_default_str();
    std::vector<Command> commands = {AddTail(app), AddTrail(app), AddLag(app), AddReplay(app)};
    for (auto& command : AddDlq(app)) commands.push_back(std::move(command));
    commands.push_back(AddPublish(app));
    commands.push_back(AddGraph(app));
    for (auto& command : AddOutbox(app)) commands.push_back(std::move(command));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);  // prints help or the error
        return rc == 0 ? 0 : 2;
    }
    return RunParsed(commands, server);
}
