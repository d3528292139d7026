#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <keel/core/asio.hpp>
#include <keel/http/client.hpp>

namespace keel::release_bot {

/// The query for every service's share of 5xx answers over the last 5 minutes (by `job`, the
/// service, as VictoriaMetrics scrapes it); a service with traffic but no 5xx series is 0.
extern const std::string_view kErrorRateQuery;

/// Reads a Prometheus instant-query answer ({"status":"success","data":{"resultType":"vector",
/// "result":[{"metric":{"job":..},"value":[t,"0.01"]}]}}) into job -> value. Empty for anything
/// else (NaN values, from a service without traffic, are left out).
std::map<std::string, double> ParseVector(std::string_view body);

/// Asks VictoriaMetrics at `base` (VM_URL) for kErrorRateQuery; empty when it cannot answer
/// (the caller falls back to the replicas' own counters).
Task<std::map<std::string, double>> QueryErrorRates(std::shared_ptr<http::Client> client,
                                                    std::string base);

}  // namespace keel::release_bot
