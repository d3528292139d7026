// keel-bus graph: who publishes and consumes what, from the services' REGISTRY
// declarations, as Graphviz DOT or SVG; edges labelled with measured message rates.
#include <boost/json/parse.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <keel/bus/nats.hpp>

#include "commands.hpp"
#include "errors.hpp"
#include "jetstream.hpp"
#include "reader.hpp"
#include "text.hpp"

extern char** environ;

namespace keel::bus_tool {
namespace json = boost::json;

namespace {

struct Declaration {
    std::string service;
    std::vector<std::string> publishes;
    std::vector<std::pair<std::string, std::string>> consumes;  // topic, durable
};

std::vector<Declaration> ReadDeclarations(bus::Nats& nats) {
    std::vector<Declaration> out;
    const StartAt last{StartAt::Kind::kLastPerSubject};
    const bool exists = ReadStored(
        nats, bus::kRegistryStream, "keel.registry.>", last, [&](const StoredMessage& m) {
            json::value v;
            try {
                v = json::parse(m.data);
            } catch (const std::exception&) {
                std::cerr << "keel-bus: skipping malformed declaration on " << m.subject << "\n";
                return true;
            }
            if (!v.is_object()) return true;
            const auto& o = v.as_object();
            Declaration d;
            d.service = Str(o, "service");
            if (d.service.empty())
                d.service = m.subject.substr(std::string("keel.registry.").size());
            if (const auto* p = o.if_contains("publishes"); p && p->is_array())
                for (const auto& t : p->as_array())
                    if (t.is_string()) d.publishes.emplace_back(t.as_string());
            if (const auto* c = o.if_contains("consumes"); c && c->is_array())
                for (const auto& item : c->as_array())
                    if (item.is_object())
                        d.consumes.emplace_back(Str(item.as_object(), "topic"),
                                                Str(item.as_object(), "consumer"));
            out.push_back(std::move(d));
            return true;
        });
    if (!exists)
        throw ToolError("the server has no REGISTRY stream: no service has started its bus there");
    if (out.empty()) throw ToolError("the REGISTRY stream holds no declarations");
    return out;
}

// Counters whose growth per second is a rate: messages per topic, deliveries per consumer.
struct Sample {
    std::chrono::steady_clock::time_point at;
    std::map<std::string, std::int64_t> topic_messages;
    std::map<std::string, std::int64_t> consumer_deliveries;  // by durable
};

Sample Measure(const JetStream& js, const std::vector<Declaration>& declarations) {
    std::set<std::string> streams;
    std::set<std::pair<std::string, std::string>> consumers;  // stream, durable
    for (const auto& d : declarations) {
        for (const auto& t : d.publishes) streams.insert(bus::StreamOf(t));
        for (const auto& [topic, durable] : d.consumes) {
            streams.insert(bus::StreamOf(topic));
            consumers.emplace(bus::StreamOf(topic), durable);
        }
    }
    Sample s;
    const auto before = std::chrono::steady_clock::now();
    for (const auto& stream : streams) {
        const auto info = js.StreamInfo(stream, ">");
        if (!info) continue;
        const auto* subjects = info->at("state").as_object().if_contains("subjects");
        if (subjects == nullptr || !subjects->is_object()) continue;
        for (const auto& kv : subjects->as_object())
            s.topic_messages[std::string(kv.key())] =
                kv.value().is_number() ? kv.value().to_number<std::int64_t>() : 0;
    }
    for (const auto& [stream, durable] : consumers) {
        if (const auto info = js.ConsumerInfo(stream, durable))
            s.consumer_deliveries[durable] = Int(*info, "delivered", "consumer_seq");
    }
    s.at = before + (std::chrono::steady_clock::now() - before) / 2;
    return s;
}

std::optional<double> Rate(const std::map<std::string, std::int64_t>& a,
                           const std::map<std::string, std::int64_t>& b, const std::string& key,
                           double seconds) {
    const auto ia = a.find(key);
    const auto ib = b.find(key);
    if (ib == b.end()) return std::nullopt;
    const auto start = ia == a.end() ? 0 : ia->second;
    return static_cast<double>(std::max<std::int64_t>(0, ib->second - start)) / seconds;
}

std::string Quoted(const std::string& text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string RateLabel(std::optional<double> rate) {
    if (!rate) return "";
    return " [label=" + Quoted(Fixed(*rate, *rate >= 100 ? 0 : 1) + "/s") + "]";
}

std::string Dot(const std::vector<Declaration>& declarations, const Sample* a, const Sample* b) {
    const double seconds = a && b ? std::chrono::duration<double>(b->at - a->at).count() : 1.0;
    auto topic_rate = [&](const std::string& topic) -> std::optional<double> {
        if (!a || !b) return std::nullopt;
        return Rate(a->topic_messages, b->topic_messages, topic, seconds);
    };
    auto consumer_rate = [&](const std::string& durable) -> std::optional<double> {
        if (!a || !b) return std::nullopt;
        return Rate(a->consumer_deliveries, b->consumer_deliveries, durable, seconds);
    };
    std::set<std::string> topics;
    for (const auto& d : declarations) {
        topics.insert(d.publishes.begin(), d.publishes.end());
        for (const auto& c : d.consumes) topics.insert(c.first);
    }
    std::ostringstream out;
    out << "digraph keel_bus {\n"
        << "  rankdir=LR;\n"
        << "  node [fontname=\"Helvetica\", fontsize=11];\n"
        << "  edge [fontname=\"Helvetica\", fontsize=9];\n";
    for (const auto& d : declarations)
        out << "  " << Quoted("service:" + d.service) << " [label=" << Quoted(d.service)
            << ", shape=oval, style=filled, fillcolor=\"#dbe9f6\"];\n";
    for (const auto& t : topics)
        out << "  " << Quoted("topic:" + t) << " [label=" << Quoted(t)
            << ", shape=box, style=filled, fillcolor=\"#fdf3d0\"];\n";
    for (const auto& d : declarations) {
        for (const auto& t : d.publishes)
            out << "  " << Quoted("service:" + d.service) << " -> " << Quoted("topic:" + t)
                << RateLabel(topic_rate(t)) << ";\n";
        for (const auto& [topic, durable] : d.consumes)
            out << "  " << Quoted("topic:" + topic) << " -> " << Quoted("service:" + d.service)
                << RateLabel(consumer_rate(durable)) << ";\n";
    }
    out << "}\n";
    return out.str();
}

// Runs Graphviz's `dot -Tsvg` on `dot_text`; to `output` or to stdout.
void RenderSvg(const std::string& dot_text, const std::string& output) {
    char path[] = "/tmp/keel-bus-graph-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) throw ToolError("cannot create a temporary file for dot");
    const std::string input = path;
    if (write(fd, dot_text.data(), dot_text.size()) != static_cast<ssize_t>(dot_text.size())) {
        close(fd);
        unlink(path);
        throw ToolError("cannot write " + input);
    }
    close(fd);
    std::vector<std::string> args = {"dot", "-Tsvg"};
    if (!output.empty()) args.insert(args.end(), {"-o", output});
    args.push_back(input);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::cout.flush();
    pid_t pid = 0;
    const int rc = posix_spawnp(&pid, "dot", nullptr, nullptr, argv.data(), environ);
    if (rc != 0) {
        unlink(path);
        throw ToolError("cannot run Graphviz's dot (" + std::string(std::strerror(rc)) +
                        "); install it (Debian: apt-get install graphviz) or use --format dot");
    }
    int status = 0;
    waitpid(pid, &status, 0);
    unlink(path);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw ToolError("dot -Tsvg failed");
}

}  // namespace

int Graph(const std::string& server, const GraphOptions& options) {
    if (options.format != "dot" && options.format != "svg")
        throw UsageError("--format " + options.format + ": expected dot or svg");
    auto nats = Connect(server);
    const JetStream js(nats);
    const auto declarations = ReadDeclarations(*nats);
    std::optional<Sample> a;
    std::optional<Sample> b;
    if (options.rates) {
        a = Measure(js, declarations);
        std::this_thread::sleep_for(std::chrono::duration<double>(options.window_s));
        b = Measure(js, declarations);
    }
    const auto dot = Dot(declarations, a ? &*a : nullptr, b ? &*b : nullptr);
    if (options.format == "svg") {
        RenderSvg(dot, options.output);
    } else if (options.output.empty()) {
        std::cout << dot;
    } else {
        std::ofstream file(options.output);
        file << dot;
        file.close();
        if (!file) throw ToolError("cannot write " + options.output);
    }
    return 0;
}

}  // namespace keel::bus_tool
