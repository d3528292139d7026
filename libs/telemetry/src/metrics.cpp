#include <keel/telemetry/metrics.hpp>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace keel::telemetry {
namespace {

void AppendEscapedLabelValue(std::string& out, const std::string& value) {
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out.push_back(c);
    }
}

std::string FormatNumber(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    // Shortest text that reads back as the same double: 0.1, not 0.10000000000000001.
    char buf[32];
    for (int precision = 15; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v);
        if (std::strtod(buf, nullptr) == v) break;
    }
    return buf;
}

// Inserts an extra label (le="...") into an already formatted label set.
std::string WithLabel(const std::string& labels, const std::string& extra) {
    if (labels.empty()) return "{" + extra + "}";
    return labels.substr(0, labels.size() - 1) + "," + extra + "}";
}

const char* TypeName(int type) {
    static const char* kNames[] = {"counter", "gauge", "histogram"};
    return kNames[type];
}

}  // namespace

std::string FormatLabels(const Labels& labels) {
    if (labels.empty()) return {};
    std::string out = "{";
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i) out.push_back(',');
        out += labels[i].first;
        out += "=\"";
        AppendEscapedLabelValue(out, labels[i].second);
        out.push_back('"');
    }
    out.push_back('}');
    return out;
}

std::vector<double> LatencyBuckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
    for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i] = 0;
}

void Histogram::Observe(double value) {
    std::size_t i = 0;
    while (i < bounds_.size() && value > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    if (value > 0) {
        sum_nanos_.fetch_add(static_cast<std::uint64_t>(value * 1e9), std::memory_order_relaxed);
    }
}

std::vector<std::uint64_t> Histogram::Counts() const {
    std::vector<std::uint64_t> out(bounds_.size() + 1);
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = counts_[i].load(std::memory_order_relaxed);
    return out;
}

double Histogram::Sum() const { return static_cast<double>(sum_nanos_.load()) / 1e9; }

std::uint64_t Histogram::Count() const {
    std::uint64_t total = 0;
    for (auto c : Counts()) total += c;
    return total;
}

Registry::Family& Registry::FamilyFor(const std::string& name, const std::string& help, Type type) {
    auto [it, inserted] = families_.try_emplace(name);
    if (inserted) {
        it->second.type = type;
        it->second.help = help;
    } else if (it->second.type != type) {
        throw std::logic_error("metric " + name + " registered with two types");
    }
    return it->second;
}

template <typename T, typename... Args>
T& Registry::Series(const std::string& name, std::map<std::string, std::unique_ptr<T>>& series,
                    std::unique_ptr<T>& overflow, const Labels& labels, Args&&... args) {
    std::string key = FormatLabels(labels);
    if (auto it = series.find(key); it != series.end()) return *it->second;
    if (series.size() < max_series_) {
        auto& slot = series[std::move(key)];
        slot = std::make_unique<T>(std::forward<Args>(args)...);
        return *slot;
    }
    // Counted here, under the lock already held: GetCounter would take it again.
    const std::string refused = "keel_metrics_series_refused_total";
    if (name != refused) {
        auto& family_of_refused = FamilyFor(
            refused, "Label sets refused over the per-metric limit, by metric.", Type::kCounter);
        auto& counter = family_of_refused.counters[FormatLabels({{"metric", name}})];
        if (!counter) counter = std::make_unique<Counter>();
        counter->Inc();
    }
    if (!overflow) overflow = std::make_unique<T>(std::forward<Args>(args)...);
    return *overflow;
}

Counter& Registry::GetCounter(const std::string& name, const std::string& help,
                              const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& family = FamilyFor(name, help, Type::kCounter);
    return Series(name, family.counters, family.overflow_counter, labels);
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& family = FamilyFor(name, help, Type::kGauge);
    return Series(name, family.gauges, family.overflow_gauge, labels);
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help,
                                  const Labels& labels, std::vector<double> bounds) {
    std::lock_guard lock(mutex_);
    auto& family = FamilyFor(name, help, Type::kHistogram);
    return Series(name, family.histograms, family.overflow_histogram, labels, std::move(bounds));
}

void Registry::OnCollect(std::function<void()> callback) {
    std::lock_guard lock(mutex_);
    collectors_.push_back(std::move(callback));
}

std::string Registry::Render() const {
    std::vector<std::function<void()>> collectors;
    {
        std::lock_guard lock(mutex_);
        collectors = collectors_;
    }
    for (auto& collect : collectors) collect();

    std::lock_guard lock(mutex_);
    std::string out;
    out.reserve(4096);
    for (const auto& [name, family] : families_) {
        out += "# HELP " + name + " " + family.help + "\n";
        out += "# TYPE " + name + " " + TypeName(static_cast<int>(family.type)) + "\n";
        for (const auto& [labels, c] : family.counters) {
            out += name + labels + " " + std::to_string(c->Value()) + "\n";
        }
        for (const auto& [labels, g] : family.gauges) {
            out += name + labels + " " + std::to_string(g->Value()) + "\n";
        }
        for (const auto& [labels, h] : family.histograms) {
            const auto counts = h->Counts();
            std::uint64_t cumulative = 0;
            for (std::size_t i = 0; i < counts.size(); ++i) {
                cumulative += counts[i];
                const double bound = i < h->Bounds().size() ? h->Bounds()[i] : INFINITY;
                out += name + "_bucket" + WithLabel(labels, "le=\"" + FormatNumber(bound) + "\"") +
                       " " + std::to_string(cumulative) + "\n";
            }
            out.append(name).append("_sum").append(labels).append(" ");
            out.append(FormatNumber(h->Sum())).append("\n");
            out.append(name).append("_count").append(labels).append(" ");
            out.append(std::to_string(cumulative)).append("\n");
        }
    }
    return out;
}

Registry& DefaultRegistry() {
    static Registry registry;
    return registry;
}

void RegisterProcessMetrics(Registry& registry, const std::string& service,
                            const std::string& version, const std::string& built) {
    registry
        .GetGauge("keel_build_info", "Build information; the value is always 1.",
                  {{"service", service}, {"version", version}, {"built", built}})
        .Set(1);
    registry
        .GetGauge("process_start_time_seconds", "Start time of the process since the Unix epoch.")
        .Set(std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count());
    auto& rss =
        registry.GetGauge("process_resident_memory_bytes", "Resident memory size in bytes.");
    registry.OnCollect([&rss] {
        std::ifstream statm("/proc/self/statm");
        long pages_total = 0, pages_resident = 0;
        if (statm >> pages_total >> pages_resident) rss.Set(pages_resident * sysconf(_SC_PAGESIZE));
    });
}

}  // namespace keel::telemetry
