#pragma once
// keel-load's settings, as parsed from the command line (main.cpp; README.md lists them).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mix.hpp"

namespace keel::load {

enum class Mode { kClosed, kOpen };
enum class Scenario { kProduct, kMix, kStatic };

struct Options {
    std::string url;
    Mode mode = Mode::kClosed;
    double duration_s = 10;
    double warmup_s = 0;
    int threads = 1;
    double timeout_s = 10;  // per request

    // closed loop
    std::uint32_t users = 10;
    double think_ms = 1000;
    double think_jitter = 0.5;  // think time uniform in think_ms * [1 - j, 1 + j]
    double ramp_s = 0;
    Mix mix = DefaultMix();
    double poll_ms = 50;          // order status polling interval
    double order_timeout_s = 30;  // an order not final by then counts as unfinished

    // open loop
    double rate = 100;
    Scenario scenario = Scenario::kProduct;
    std::uint32_t connections = 64;
    std::uint64_t max_in_flight = 0;  // 0: no bound
    std::string path = "/";

    // setup
    std::string service_token;
    std::string internal_url;
    std::uint32_t setup_users = 0;
    std::uint32_t setup_concurrency = 8;
    std::int64_t fund_amount = 100'000'000;
    std::string users_file;
    std::string save_users;
    std::vector<std::string> product_ids;        // empty: the first page of the catalog
    std::vector<std::string> order_product_ids;  // empty: product_ids
    bool spread_sources = true;  // bind setup connections to 127.0.0.2-251 on a loopback target

    // output
    std::string json;
    std::string csv;
    bool quiet = false;
    std::optional<bool> progress;  // default: stderr is a terminal
};

}  // namespace keel::load
