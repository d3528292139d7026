#include "vm_rates.hpp"

#include <cmath>

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <keel/core/log.hpp>

namespace keel::release_bot {

const std::string_view kErrorRateQuery =
    R"((sum by (job) (rate(http_requests_total{status=~"5.."}[5m])) )"
    R"(or sum by (job) (rate(http_requests_total[5m])) * 0) )"
    R"(/ sum by (job) (rate(http_requests_total[5m])))";

std::map<std::string, double> ParseVector(std::string_view body) {
    std::map<std::string, double> out;
    boost::system::error_code ec;
    const auto doc = boost::json::parse(body, ec);
    if (ec || !doc.is_object()) return out;
    const auto* data = doc.as_object().if_contains("data");
    const auto* result =
        data && data->is_object() ? data->as_object().if_contains("result") : nullptr;
    if (!result || !result->is_array()) return out;
    for (const auto& item : result->as_array()) {
        if (!item.is_object()) continue;
        const auto* metric = item.as_object().if_contains("metric");
        const auto* value = item.as_object().if_contains("value");
        if (!metric || !metric->is_object() || !value || !value->is_array() ||
            value->as_array().size() != 2 || !value->as_array()[1].is_string())
            continue;
        const auto* job = metric->as_object().if_contains("job");
        if (!job || !job->is_string()) continue;
        const std::string text(value->as_array()[1].as_string());
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || std::isnan(v)) continue;
        out[std::string(job->as_string())] = v;
    }
    return out;
}

Task<std::map<std::string, double>> QueryErrorRates(std::shared_ptr<http::Client> client,
                                                    std::string base) {
    const auto url = base + "/api/v1/query?query=" +
                     boost::urls::encode(kErrorRateQuery, boost::urls::unreserved_chars);
    std::map<std::string, double> rates;
    try {
        std::vector<std::pair<std::string, std::string>> headers;  // named: GCC 12 and `{}`
        const std::chrono::milliseconds deadline(3000);
        auto response = co_await client->Send(http::Verb::get, url, std::move(headers),
                                              std::string(), deadline);
        if (response.result_int() == 200) rates = ParseVector(response.body());
    } catch (const std::exception& e) {
        log::Warn("VictoriaMetrics did not answer", {{"error", e.what()}});
    }
    co_return rates;
}

}  // namespace keel::release_bot
