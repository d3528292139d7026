// keel-bus: look into and operate the keel event bus (NATS JetStream). See README.md.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

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

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Looks into and operates the keel event bus (NATS JetStream).", "keel-bus"};
    app.require_subcommand(1);
    app.fallthrough();  // --server also after the command
    std::string server = "nats://127.0.0.1:42229";
    app.add_option("--server", server, "NATS URL(s), comma-separated")
        ->envname("NATS_URL")
        ->capture_default_str();

    bt::TailOptions tail_options;
    auto* tail =
        app.add_subcommand("tail", "Print a topic's messages as JSON lines, decoded, and follow");
    tail->add_option("topic", tail_options.topic, "Topic (= Avro schema name = subject)")
        ->required();
    auto* from_start =
        tail->add_flag("--from-start", tail_options.from_start, "Start at the oldest message");
    tail->add_option("--last", tail_options.last, "Start with the last N messages")
        ->check(Integer(true))
        ->excludes(from_start);
    tail->add_option("--count", tail_options.count, "Stop after N messages")->check(Integer(false));
    tail->add_option("--timeout", tail_options.timeout_s, "Stop after S seconds")->check(Seconds());

    bt::TrailOptions trail_options;
    auto* trail = app.add_subcommand(
        "trail", "Every hop of a request's events across services, in start order");
    trail->add_option("id", trail_options.id, "Correlation id (X-Request-Id) or event id")
        ->required();
    trail->add_flag("--json", trail_options.json, "JSON instead of a table");

    bool lag_json = false;
    auto* lag =
        app.add_subcommand("lag", "Pending and unacknowledged messages of every durable consumer");
    lag->add_flag("--json", lag_json, "JSON instead of a table");

    bt::ReplayOptions replay_options;
    auto* replay = app.add_subcommand(
        "replay", "Recreate a durable consumer starting at a time or stream sequence");
    replay
        ->add_option("consumer", replay_options.consumer, "Durable name, <service>-<topic with _>")
        ->required();
    replay->add_option("--from", replay_options.from, "RFC 3339 time or stream sequence")
        ->required();
    replay->add_option("--stream", replay_options.stream,
                       "The consumer's stream (found when omitted)");

    bt::DlqOptions dlq_options;
    auto* dlq = app.add_subcommand("dlq", "Dead letters");
    dlq->require_subcommand(1);
    auto* dlq_list = dlq->add_subcommand("list", "List dead letters");
    auto* dlq_retry =
        dlq->add_subcommand("retry", "Republish dead letters to their topic and delete them");
    for (auto* sub : {dlq_list, dlq_retry}) {
        sub->add_option("--topic", dlq_options.topic, "Only this topic's");
        sub->add_option("--seq", dlq_options.seq,
                        "Only the dead letter with this DLQ stream sequence")
            ->check(Integer(false));
        sub->add_option("--consumer", dlq_options.consumer,
                        "Only those this durable consumer gave up on");
    }
    dlq_list->add_flag("--json", dlq_options.json, "JSON instead of a table");

    bt::PublishOptions publish_options;
    auto* publish =
        app.add_subcommand("publish", "Validate, encode and publish one event (fresh event id)");
    publish->add_option("topic", publish_options.topic, "Topic")->required();
    publish->add_option("payload", publish_options.payload, "The payload as JSON")->required();
    publish->add_option("--correlation-id", publish_options.correlation_id,
                        "Default: a new UUIDv7");

    bt::GraphOptions graph_options;
    auto* graph = app.add_subcommand(
        "graph", "Services, topics and their rates from the REGISTRY declarations");
    graph->add_option("--format", graph_options.format, "dot or svg (Graphviz's dot -Tsvg)")
        ->check(CLI::IsMember({"dot", "svg"}))
        ->capture_default_str();
    graph->add_option("--output,-o", graph_options.output, "File (default: stdout)");
    graph->add_flag("--rates,!--no-rates", graph_options.rates,
                    "Label edges with messages/s (default on)");
    graph->add_option("--window", graph_options.window_s, "Seconds to measure rates over")
        ->check(CLI::Range(0.1, 60.0))
        ->capture_default_str();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);  // prints help or the error
        return rc == 0 ? 0 : 2;
    }
    try {
        if (*tail) return bt::Tail(server, tail_options);
        if (*trail) return bt::Trail(server, trail_options);
        if (*lag) return bt::Lag(server, lag_json);
        if (*replay) return bt::Replay(server, replay_options);
        if (*dlq_list) return bt::DlqList(server, dlq_options);
        if (*dlq_retry) return bt::DlqRetry(server, dlq_options);
        if (*publish) return bt::Publish(server, publish_options);
        if (*graph) return bt::Graph(server, graph_options);
    } catch (const bt::UsageError& e) {
        std::cerr << "keel-bus: " << e.what() << '\n';
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "keel-bus: " << e.what() << '\n';
        return 1;
    }
    return 2;
}
