#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace keel::telemetry {

using Labels = std::vector<std::pair<std::string, std::string>>;

/// Monotonic counter. Thread-safe, lock-free.
class Counter final {
public:
    void Inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
    std::uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

/// Value that goes up and down. Thread-safe, lock-free.
class Gauge final {
public:
    void Set(std::int64_t v) { value_.store(v, std::memory_order_relaxed); }
    void Add(std::int64_t d) { value_.fetch_add(d, std::memory_order_relaxed); }
    std::int64_t Value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::int64_t> value_{0};
};

/// Cumulative histogram with fixed upper bounds (seconds, or any unit). Thread-safe.
class Histogram final {
public:
    explicit Histogram(std::vector<double> bounds);
    void Observe(double value);
    const std::vector<double>& Bounds() const { return bounds_; }
    /// Per-bucket (non-cumulative) counts; the last is +Inf.
    std::vector<std::uint64_t> Counts() const;
    double Sum() const;
    std::uint64_t Count() const;

private:
    std::vector<double> bounds_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
    std::atomic<std::uint64_t> sum_nanos_{0};  // sum kept in 1e-9 units to stay lock-free
};

/// Default latency buckets in seconds: 0.5 ms to 10 s.
std::vector<double> LatencyBuckets();

/// Named metric families with labelled series, rendered in the Prometheus text
/// exposition format (version 0.0.4). Get* create the series on first use and return
/// a reference that stays valid for the registry's life; callers on hot paths keep it.
/// A metric holds at most `max_series` label sets: past that, Get* with a new label set
/// returns a series that is not rendered and counts the refusal in
/// keel_metrics_series_refused_total{metric}, so a label fed by outside data (a bug:
/// labels must come from fixed sets) cannot grow memory or /metrics without bound.
/// Thread-safe.
class Registry final {
public:
    explicit Registry(std::size_t max_series = 1000) : max_series_(max_series) {}

    Counter& GetCounter(const std::string& name, const std::string& help,
                        const Labels& labels = {});
    Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
    Histogram& GetHistogram(const std::string& name, const std::string& help,
                            const Labels& labels = {},
                            std::vector<double> bounds = LatencyBuckets());
    /// A callback run at each Render() (e.g. to refresh process gauges).
    void OnCollect(std::function<void()> callback);

    std::string Render() const;

private:
    enum class Type { kCounter, kGauge, kHistogram };
    struct Family {
        Type type;
        std::string help;
        std::map<std::string, std::unique_ptr<Counter>> counters;
        std::map<std::string, std::unique_ptr<Gauge>> gauges;
        std::map<std::string, std::unique_ptr<Histogram>> histograms;
        // Handed out past max_series_; never rendered.
        std::unique_ptr<Counter> overflow_counter;
        std::unique_ptr<Gauge> overflow_gauge;
        std::unique_ptr<Histogram> overflow_histogram;
    };
    Family& FamilyFor(const std::string& name, const std::string& help, Type type);
    template <typename T, typename... Args>
    T& Series(const std::string& name, std::map<std::string, std::unique_ptr<T>>& series,
              std::unique_ptr<T>& overflow, const Labels& labels, Args&&... args);

    const std::size_t max_series_;

    mutable std::mutex mutex_;
    std::map<std::string, Family> families_;
    std::vector<std::function<void()>> collectors_;
};

/// The process-wide registry that /metrics renders.
Registry& DefaultRegistry();

/// Adds process_resident_memory_bytes, process_start_time_seconds and
/// keel_build_info{service,version,built} to `registry` (version: the git commit).
void RegisterProcessMetrics(Registry& registry, const std::string& service,
                            const std::string& version, const std::string& built);

/// Renders `labels` as `{a="x",b="y"}` with Prometheus escaping ("" when empty).
std::string FormatLabels(const Labels& labels);

}  // namespace keel::telemetry
