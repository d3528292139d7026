#include "recorder.hpp"

#include <numeric>

namespace keel::load {

namespace {
constexpr std::array<std::string_view, kErrorKinds> kKindNames = {
    "connect", "timeout", "http_4xx", "http_5xx", "http_503_shed", "other", "dropped"};
}

std::string_view ErrorKindName(ErrorKind kind) {
    return kKindNames[static_cast<std::size_t>(kind)];
}

std::optional<ErrorKind> Classify(const Response& response) {
    switch (response.outcome) {
        case Outcome::kConnect:
            return ErrorKind::kConnect;
        case Outcome::kTimeout:
            return ErrorKind::kTimeout;
        case Outcome::kOther:
            return ErrorKind::kOther;
        case Outcome::kResponse:
            break;
    }
    if (response.status == 503) return ErrorKind::kHttp503Shed;
    if (response.status >= 500) return ErrorKind::kHttp5xx;
    if (response.status >= 400) return ErrorKind::kHttp4xx;
    return std::nullopt;
}

Cause503 Classify503(const Response& response) {
    // keel's overload control answers with this word in its problem detail (libs/http server.cpp);
    // a breaker or a dependency's 503 never says it. A substring search: the body is short.
    return response.body.find("overloaded") != std::string::npos ? Cause503::kOverload
                                                                 : Cause503::kDependency;
}

std::uint64_t Totals::ErrorCount() const {
    return std::accumulate(errors.begin(), errors.end(), std::uint64_t{0});
}

void Totals::Merge(const Totals& other) {
    requests += other.requests;
    ok += other.ok;
    for (std::size_t i = 0; i < kErrorKinds; ++i) errors[i] += other.errors[i];
    latency.Merge(other.latency);
    shed.Merge(other.shed);
    shed_overload += other.shed_overload;
    shed_dependency += other.shed_dependency;
}

void Totals::Reset() {
    requests = ok = shed_overload = shed_dependency = 0;
    errors.fill(0);
    latency.Reset();
    shed.Reset();
}

void Recorder::Record(Step step, const Response& response, std::uint64_t latency_us) {
    if (!Measuring()) return;
    const auto kind = Classify(response);
    std::lock_guard lock(mutex_);
    auto& step_stats = steps_[static_cast<std::size_t>(step)];
    ++step_stats.requests;
    for (Totals* t : {&total_, &second_}) {
        ++t->requests;
        if (kind)
            ++t->errors[static_cast<std::size_t>(*kind)];
        else
            ++t->ok;
    }
    if (kind) ++step_stats.errors;
    if (response.outcome != Outcome::kResponse) return;  // no answer: no latency to speak of
    if (response.status == 503) {
        const bool overload = Classify503(response) == Cause503::kOverload;
        for (Totals* t : {&total_, &second_}) {
            t->shed.Record(latency_us);
            ++(overload ? t->shed_overload : t->shed_dependency);
        }
        return;
    }
    total_.latency.Record(latency_us);
    second_.latency.Record(latency_us);
    step_stats.latency.Record(latency_us);
}

void Recorder::RecordDropped(std::uint64_t n) {
    if (!Measuring() || n == 0) return;
    std::lock_guard lock(mutex_);
    total_.errors[static_cast<std::size_t>(ErrorKind::kDropped)] += n;
    second_.errors[static_cast<std::size_t>(ErrorKind::kDropped)] += n;
}

void Recorder::RecordOrderFinal(bool confirmed, std::uint64_t micros) {
    if (!Measuring()) return;
    std::lock_guard lock(mutex_);
    order_final_.Record(micros);
    ++order_outcomes_[confirmed ? 0 : 1];
}

void Recorder::RecordOrderUnfinished() {
    if (!Measuring()) return;
    std::lock_guard lock(mutex_);
    ++order_outcomes_[2];
}

void Recorder::TakeSecond(Totals& second) {
    std::lock_guard lock(mutex_);
    second.Merge(second_);
    second_.Reset();
}

void Recorder::MergeTotalsInto(Totals& totals, std::array<StepStats, kStepCount>& steps,
                               Histogram& order_final,
                               std::array<std::uint64_t, 3>& order_outcomes) {
    std::lock_guard lock(mutex_);
    totals.Merge(total_);
    for (std::size_t i = 0; i < kStepCount; ++i) {
        steps[i].requests += steps_[i].requests;
        steps[i].errors += steps_[i].errors;
        steps[i].latency.Merge(steps_[i].latency);
    }
    order_final.Merge(order_final_);
    for (std::size_t i = 0; i < 3; ++i) order_outcomes[i] += order_outcomes_[i];
}

}  // namespace keel::load
