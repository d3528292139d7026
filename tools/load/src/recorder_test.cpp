#include "recorder.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "report.hpp"

namespace keel::load {
namespace {

Response Answer(unsigned status, std::string body = {}) {
    Response r;
    r.outcome = Outcome::kResponse;
    r.status = status;
    r.body = std::move(body);
    return r;
}

// The detail keel's overload control sends (libs/http/src/server.cpp).
const char* const kOverloaded =
    R"({"type":"about:blank","title":"Service Unavailable","status":503,)"
    R"("detail":"the server is overloaded; retry after the Retry-After seconds"})";
const char* const kBreakerOpen =
    R"({"title":"Service Unavailable","status":503,"detail":"catalog is unavailable"})";

TEST(Classify, Every503IsShedAndItsCauseIsReadFromTheDetail) {
    EXPECT_EQ(Classify(Answer(503, kOverloaded)), ErrorKind::kHttp503Shed);
    EXPECT_EQ(Classify(Answer(503, kBreakerOpen)), ErrorKind::kHttp503Shed);
    EXPECT_EQ(Classify503(Answer(503, kOverloaded)), Cause503::kOverload);
    EXPECT_EQ(Classify503(Answer(503, kBreakerOpen)), Cause503::kDependency);
    EXPECT_EQ(Classify503(Answer(503, "<html>503 Service Temporarily Unavailable</html>")),
              Cause503::kDependency);
    EXPECT_EQ(Classify503(Answer(503)), Cause503::kDependency);
    EXPECT_EQ(Classify(Answer(502)), ErrorKind::kHttp5xx);
    EXPECT_EQ(Classify(Answer(200)), std::nullopt);
}

TEST(Recorder, KeepsThe503sApartPerSecondAndOverTheRun) {
    Recorder recorder;
    recorder.StartMeasuring();
    recorder.Record(Step::kOrder, Answer(201), 40'000);
    recorder.Record(Step::kOrder, Answer(503, kOverloaded), 1'000);
    recorder.Record(Step::kOrder, Answer(503, kBreakerOpen), 3'000);
    recorder.Record(Step::kOrder, Answer(503, kBreakerOpen), 7'000);
    Totals first;
    recorder.TakeSecond(first);
    EXPECT_EQ(first.requests, 4u);
    EXPECT_EQ(first.ErrorCount(), 3u);  // the split by cause is not counted again
    EXPECT_EQ(first.errors[static_cast<std::size_t>(ErrorKind::kHttp503Shed)], 3u);
    EXPECT_EQ(first.shed_overload, 1u);
    EXPECT_EQ(first.shed_dependency, 2u);
    EXPECT_EQ(first.shed.Count(), 3u);
    EXPECT_EQ(first.shed.Max(), 7'000u);
    EXPECT_EQ(first.latency.Count(), 1u);  // the 503s stay out of the admitted latency

    recorder.Record(Step::kOrder, Answer(201), 30'000);
    Totals second;
    recorder.TakeSecond(second);
    EXPECT_EQ(second.shed.Count(), 0u);
    EXPECT_EQ(second.shed_dependency, 0u);

    Totals run;
    std::array<StepStats, kStepCount> steps;
    Histogram order_final;
    std::array<std::uint64_t, 3> outcomes{};
    recorder.MergeTotalsInto(run, steps, order_final, outcomes);
    EXPECT_EQ(run.requests, 5u);
    EXPECT_EQ(run.shed.Count(), 3u);
    EXPECT_EQ(run.shed_overload, 1u);
    EXPECT_EQ(run.shed_dependency, 2u);
}

RunResult TwoSeconds() {
    RunResult r;
    r.measured_s = 2;
    r.totals.errors[static_cast<std::size_t>(ErrorKind::kHttp503Shed)] = 3;
    r.totals.shed_overload = 1;
    r.totals.shed_dependency = 2;
    TimelineRow quiet;
    quiet.t = 1;
    quiet.ok = 10;
    TimelineRow shedding;
    shedding.t = 2;
    shedding.errors = 3;
    shedding.shed = 3;
    shedding.shed_p99_ms = 4.5;
    r.timeline = {quiet, shedding};
    return r;
}

TEST(Report, TheTimelineHasEachSecondsSheddingAndNullWithoutA503) {
    Options options;
    const auto doc = boost::json::parse(ResultJson(options, TwoSeconds(), nullptr)).as_object();
    const auto& timeline = doc.at("timeline").as_array();
    ASSERT_EQ(timeline.size(), 2u);
    EXPECT_EQ(timeline[0].at("shed").to_number<std::uint64_t>(), 0u);
    EXPECT_TRUE(timeline[0].at("shed_p99_ms").is_null());
    EXPECT_EQ(timeline[1].at("shed").to_number<std::uint64_t>(), 3u);
    EXPECT_DOUBLE_EQ(timeline[1].at("shed_p99_ms").as_double(), 4.5);
    const auto& errors = doc.at("errors").as_object();
    EXPECT_EQ(errors.at("http_503_shed").to_number<std::uint64_t>(), 3u);
    EXPECT_EQ(errors.at("http_503_overload").to_number<std::uint64_t>(), 1u);
    EXPECT_EQ(errors.at("http_503_dependency").to_number<std::uint64_t>(), 2u);
    EXPECT_EQ(doc.at("error_count").to_number<std::uint64_t>(), 3u);
}

TEST(Report, TheCsvHasTheSameColumns) {
    EXPECT_EQ(TimelineCsv(TwoSeconds()),
              "t,rps,ok,errors,p50_ms,p99_ms,in_flight,users,shed,shed_p99_ms\n"
              "1.000,0.0,10,0,0.000,0.000,0,0,0,\n"
              "2.000,0.0,0,3,0.000,0.000,0,0,3,4.500\n");
}

}  // namespace
}  // namespace keel::load
