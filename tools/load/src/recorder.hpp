#pragma once
// What a run measured: latency histograms (overall, per step, per second), errors by kind,
// order outcomes. One Recorder per io thread; the reporter merges them once a second.
#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string_view>

#include "histogram.hpp"
#include "http_connection.hpp"
#include "mix.hpp"

namespace keel::load {

enum class ErrorKind : std::uint8_t {
    kConnect,
    kTimeout,
    kHttp4xx,
    kHttp5xx,
    kHttp503Shed,
    kOther,
    kDropped
};
inline constexpr std::size_t kErrorKinds = 7;
std::string_view ErrorKindName(ErrorKind kind);

/// nullopt for a success (1xx-3xx), else the error's kind.
std::optional<ErrorKind> Classify(const Response& response);

/// Why a server answered 503: its overload control shed the request (keel's problem detail says
/// "overloaded"), or anything else (a dependency down, a breaker open). Splits http_503_shed.
enum class Cause503 : std::uint8_t { kOverload, kDependency };
Cause503 Classify503(const Response& response);

struct StepStats {
    std::uint64_t requests = 0;
    std::uint64_t errors = 0;
    Histogram latency;
};

/// Counts for one interval (a second) or for the whole run.
struct Totals {
    std::uint64_t requests = 0;  // answered or failed; not dropped
    std::uint64_t ok = 0;
    std::array<std::uint64_t, kErrorKinds> errors{};
    Histogram latency;                // answers other than 503 (the admitted ones)
    Histogram shed;                   // the 503 answers
    std::uint64_t shed_overload = 0;  // the 503s split by Cause503; not counted again as errors
    std::uint64_t shed_dependency = 0;
    std::uint64_t ErrorCount() const;
    void Merge(const Totals& other);
    void Reset();
};

/// Thread-safe: the io thread records, the reporter takes snapshots (a mutex held briefly).
class Recorder final {
public:
    /// Before this is called nothing counts (warm-up, setup).
    void StartMeasuring() { measuring_.store(true, std::memory_order_relaxed); }
    void StopMeasuring() { measuring_.store(false, std::memory_order_relaxed); }
    bool Measuring() const { return measuring_.load(std::memory_order_relaxed); }

    void Record(Step step, const Response& response, std::uint64_t latency_us);
    void RecordDropped(std::uint64_t n);
    void RecordOrderFinal(bool confirmed, std::uint64_t micros);
    void RecordOrderUnfinished();

    /// Adds this second's counts to `second` and clears them here.
    void TakeSecond(Totals& second);
    /// Adds everything measured so far to the arguments.
    void MergeTotalsInto(Totals& totals, std::array<StepStats, kStepCount>& steps,
                         Histogram& order_final, std::array<std::uint64_t, 3>& order_outcomes);

    std::atomic<std::int64_t> in_flight{0};
    std::atomic<std::int64_t> users{0};

private:
    std::mutex mutex_;
    std::atomic<bool> measuring_{false};
    Totals total_;
    Totals second_;
    std::array<StepStats, kStepCount> steps_;
    Histogram order_final_;
    std::array<std::uint64_t, 3> order_outcomes_{};  // confirmed, cancelled, not final in time
};

}  // namespace keel::load
