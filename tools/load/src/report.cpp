#include "report.hpp"

#include <boost/json.hpp>
#include <cstdio>

namespace keel::load {

namespace json = boost::json;

namespace {

double Ms(std::uint64_t micros) { return micros / 1000.0; }

json::object Latency(const Histogram& h) {
    return json::object{{"mean", h.Mean() / 1000.0},   {"p50", Ms(h.Percentile(50))},
                        {"p90", Ms(h.Percentile(90))}, {"p95", Ms(h.Percentile(95))},
                        {"p99", Ms(h.Percentile(99))}, {"p999", Ms(h.Percentile(99.9))},
                        {"max", Ms(h.Max())},          {"count", h.Count()}};
}

json::object SetupJson(const SetupReport& s) {
    auto brief = [](const Histogram& h) {
        return json::object{
            {"count", h.Count()}, {"p50", Ms(h.Percentile(50))}, {"p99", Ms(h.Percentile(99))}};
    };
    json::object o{{"users", s.users},
                   {"failed", s.failed},
                   {"renewed_logins", s.logged_in},
                   {"retries", s.retries},
                   {"seconds", s.seconds},
                   {"register_ms", brief(s.register_ms)},
                   {"login_ms", brief(s.login_ms)},
                   {"fund_ms", brief(s.fund_ms)}};
    if (!s.first_error.empty()) o["first_error"] = s.first_error;
    return o;
}

}  // namespace

std::string ResultJson(const Options& o, const RunResult& r, const SetupReport* setup) {
    const bool closed = o.mode == Mode::kClosed;
    json::object errors;
    for (std::size_t i = 0; i < kErrorKinds; ++i)
        errors[ErrorKindName(static_cast<ErrorKind>(i))] = r.totals.errors[i];
    // http_503_shed split by cause (Classify503): not more errors, so not in error_count
    errors["http_503_overload"] = r.totals.shed_overload;
    errors["http_503_dependency"] = r.totals.shed_dependency;
    json::object steps;
    for (std::size_t i = 0; i < kStepCount; ++i) {
        const auto& s = r.steps[i];
        if (s.requests == 0) continue;
        steps[StepName(static_cast<Step>(i))] = json::object{
            {"requests", s.requests}, {"errors", s.errors}, {"latency_ms", Latency(s.latency)}};
    }
    json::array timeline;
    for (const auto& row : r.timeline)
        timeline.push_back(
            json::object{{"t", row.t},
                         {"rps", row.rps},
                         {"ok", row.ok},
                         {"errors", row.errors},
                         {"p50_ms", row.p50_ms},
                         {"p99_ms", row.p99_ms},
                         {"in_flight", row.in_flight},
                         {"users", row.users},
                         {"shed", row.shed},
                         {"shed_p99_ms",
                          row.shed_p99_ms ? json::value(*row.shed_p99_ms) : json::value(nullptr)}});
    const double seconds = r.measured_s > 0 ? r.measured_s : 1;
    const auto requests = r.totals.requests;
    json::object out{
        {"mode", closed ? "closed" : "open"},
        {"users", closed ? json::value(o.users) : json::value(nullptr)},
        {"rate", closed ? json::value(nullptr) : json::value(o.rate)},
        {"duration_s", r.measured_s},
        {"warmup_s", o.warmup_s},
        {"requests", requests},
        {"ok", r.totals.ok},
        {"errors", std::move(errors)},
        {"error_count", r.totals.ErrorCount()},
        {"unsent", r.unsent},
        {"throughput_rps", requests / seconds},
        {"goodput_rps", r.totals.ok / seconds},
        {"latency_ms", Latency(r.totals.latency)},
        {"shed_latency_ms", json::object{{"p50", Ms(r.totals.shed.Percentile(50))},
                                         {"p99", Ms(r.totals.shed.Percentile(99))},
                                         {"count", r.totals.shed.Count()}}},
        {"steps", std::move(steps)},
        {"timeline", std::move(timeline)},
        {"cpu_s", r.cpu_s},
        {"cpu_us_per_request", requests ? r.cpu_s * 1e6 / requests : 0.0},
        {"order_final_ms", json::object{{"p50", Ms(r.order_final.Percentile(50))},
                                        {"p99", Ms(r.order_final.Percentile(99))},
                                        {"count", r.order_final.Count()},
                                        {"confirmed", r.order_outcomes[0]},
                                        {"cancelled", r.order_outcomes[1]},
                                        {"not_final", r.order_outcomes[2]}}},
        {"options", json::object{{"url", o.url},
                                 {"threads", o.threads},
                                 {"think_ms", o.think_ms},
                                 {"ramp_s", o.ramp_s},
                                 {"mix", o.mix.ToString()},
                                 {"connections", o.connections},
                                 {"max_in_flight", o.max_in_flight},
                                 {"scenario", o.scenario == Scenario::kStatic ? "static"
                                              : o.scenario == Scenario::kMix  ? "mix"
                                                                              : "product"}}},
    };
    if (setup) out["setup"] = SetupJson(*setup);
    return json::serialize(out) + "\n";
}

std::string TimelineCsv(const RunResult& r) {
    std::string out = "t,rps,ok,errors,p50_ms,p99_ms,in_flight,users,shed,shed_p99_ms\n";
    char line[256];
    for (const auto& row : r.timeline) {
        std::snprintf(line, sizeof line, "%.3f,%.1f,%llu,%llu,%.3f,%.3f,%lld,%lld,%llu,", row.t,
                      row.rps, static_cast<unsigned long long>(row.ok),
                      static_cast<unsigned long long>(row.errors), row.p50_ms, row.p99_ms,
                      static_cast<long long>(row.in_flight), static_cast<long long>(row.users),
                      static_cast<unsigned long long>(row.shed));
        out += line;
        // no 503 that second: an empty field, as the JSON's null
        if (row.shed_p99_ms) {
            std::snprintf(line, sizeof line, "%.3f", *row.shed_p99_ms);
            out += line;
        }
        out += '\n';
    }
    return out;
}

std::string Summary(const Options& o, const RunResult& r) {
    const auto& h = r.totals.latency;
    const double seconds = r.measured_s > 0 ? r.measured_s : 1;
    char text[512];
    std::snprintf(
        text, sizeof text,
        "%s loop, %.1fs: %llu requests (%.1f/s), %llu ok, %llu errors, %llu unsent; latency "
        "ms mean %.2f p50 %.2f p99 %.2f max %.2f; cpu %.2fs (%.1f us/request)\n",
        o.mode == Mode::kClosed ? "closed" : "open", r.measured_s,
        static_cast<unsigned long long>(r.totals.requests), r.totals.requests / seconds,
        static_cast<unsigned long long>(r.totals.ok),
        static_cast<unsigned long long>(r.totals.ErrorCount()),
        static_cast<unsigned long long>(r.unsent), h.Mean() / 1000.0, Ms(h.Percentile(50)),
        Ms(h.Percentile(99)), Ms(h.Max()), r.cpu_s,
        r.totals.requests ? r.cpu_s * 1e6 / r.totals.requests : 0.0);
    return text;
}

}  // namespace keel::load
