// keel-load: keel's load generator (closed-loop shoppers or open-loop arrivals). See README.md.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>

#include "report.hpp"
#include "run.hpp"
#include "setup.hpp"

namespace kl = keel::load;

namespace {

std::vector<std::string> SplitIds(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= text.size()) {
        const auto comma = text.find(',', start);
        const auto item =
            text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!item.empty()) out.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

void AddOptions(CLI::App& app, kl::Options& o, std::string& mode, std::string& mix,
                std::string& scenario, std::string& products, std::string& order_products,
                bool& progress, bool& no_progress) {
    app.add_option("--url", o.url, "The gateway, e.g. http://127.0.0.1:8080")->required();
    app.add_option("--mode", mode, "closed (virtual users) or open (constant arrival rate)")
        ->check(CLI::IsMember({"closed", "open"}));
    app.add_option("--duration-s", o.duration_s, "Measured seconds")
        ->check(CLI::Range(0.1, 86400.0));
    app.add_option("--warmup-s", o.warmup_s, "Seconds run before measuring")
        ->check(CLI::Range(0.0, 86400.0));
    app.add_option("--threads", o.threads, "io threads (1 or 2)")->check(CLI::Range(1, 2));
    app.add_option("--timeout-s", o.timeout_s, "Per-request timeout")
        ->check(CLI::Range(0.01, 600.0));
    app.add_option("--users", o.users, "Closed loop: virtual users")
        ->check(CLI::Range(1u, 1000000u));
    app.add_option("--think-ms", o.think_ms, "Closed loop: mean think time between steps")
        ->check(CLI::Range(0.0, 3.6e6));
    app.add_option("--think-jitter", o.think_jitter, "Think time uniform in think*[1-j, 1+j]")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--ramp-s", o.ramp_s, "Closed loop: users start evenly over this many seconds")
        ->check(CLI::Range(0.0, 86400.0));
    app.add_option("--mix", mix,
                   "Step weights (default list=20,search=10,product=35,recs=15,order=20)");
    app.add_option("--poll-ms", o.poll_ms, "Order status polling interval")
        ->check(CLI::Range(1.0, 60000.0));
    app.add_option("--order-timeout-s", o.order_timeout_s,
                   "An order not final by then is counted not_final")
        ->check(CLI::Range(0.1, 3600.0));
    app.add_option("--rate", o.rate, "Open loop: requests per second")
        ->check(CLI::Range(0.01, 1e7));
    app.add_option("--scenario", scenario, "Open loop: product, mix or static")
        ->check(CLI::IsMember({"product", "mix", "static"}));
    app.add_option("--connections", o.connections,
                   "Open loop: keep-alive connections (the most requests in flight)")
        ->check(CLI::Range(1u, 100000u));
    app.add_option(
        "--max-in-flight", o.max_in_flight,
        "Open loop: most requests due and unanswered; later ones are dropped (0: no bound)");
    app.add_option("--path", o.path, "Scenario static: the path to GET");
    app.add_option("--service-token", o.service_token, "KEEL_SERVICE_TOKEN, for operator top-ups");
    app.add_option("--internal-url", o.internal_url, "The internal gateway, for operator top-ups");
    app.add_option("--setup-users", o.setup_users,
                   "Users to register, log in and fund before measuring");
    app.add_option("--setup-concurrency", o.setup_concurrency, "Users set up at once")
        ->check(CLI::Range(1u, 1000u));
    app.add_option("--fund", o.fund_amount, "Minor units credited to each new user")
        ->check(CLI::Range(1LL, 1000000000LL));
    app.add_option("--users-file", o.users_file,
                   "Reuse users saved by --save-users (tokens renewed if needed)");
    app.add_option("--save-users", o.save_users, "Write the users to this file after setup");
    app.add_option("--products", products,
                   "Product ids to ask for (comma list; default the catalog's first page)");
    app.add_option("--order-products", order_products, "Product ids to order (default --products)");
    app.add_flag("!--no-spread-sources", o.spread_sources,
                 "Setup from 127.0.0.1 only (by default 127.0.0.2-251 on a loopback target)");
    app.add_option("--json", o.json, "Write the results as JSON");
    app.add_option("--csv", o.csv, "Write the timeline as CSV");
    app.add_flag("--quiet", o.quiet, "No progress and no summary");
    app.add_flag("--progress", progress,
                 "A progress line each second on stderr (default on a terminal)");
    app.add_flag("--no-progress", no_progress, "No progress line");
}

int Main(kl::Options& o) {
    kl::World world{o, kl::ResolveTarget(o.url)};
    std::optional<kl::Target> internal;
    if (!o.internal_url.empty()) internal = kl::ResolveTarget(o.internal_url);
    const bool needs_products = !(o.mode == kl::Mode::kOpen && o.scenario == kl::Scenario::kStatic);
    const bool needs_users = o.mode == kl::Mode::kClosed || o.scenario == kl::Scenario::kMix;
    const bool orders =
        needs_users && o.mix.weights[static_cast<std::size_t>(kl::Step::kOrder)] > 0;
    if (needs_products)
        world.products = o.product_ids.empty() ? kl::DiscoverProducts(world.gateway, o.timeout_s)
                                               : o.product_ids;
    world.order_products = o.order_product_ids.empty() ? world.products : o.order_product_ids;

    if (!o.users_file.empty()) world.users = kl::ReadUsersFile(o.users_file);
    std::optional<kl::SetupReport> setup;
    if (!world.users.empty() || o.setup_users > 0) {
        // tokens must outlive the run: renew those expiring before its end (plus a minute)
        const auto until =
            std::time(nullptr) + static_cast<std::int64_t>(o.warmup_s + o.duration_s + 60);
        if (!o.quiet) std::fprintf(stderr, "setting up %u users...\n", o.setup_users);
        setup =
            kl::SetupUsers(o, world.gateway, internal ? &*internal : nullptr, world.users, until);
        if (!o.quiet)
            std::fprintf(
                stderr, "setup: %u users ready, %u failed, %.1fs%s%s\n", setup->users,
                setup->failed, setup->seconds,
                setup->first_error.empty() ? "" : "; first error: ", setup->first_error.c_str());
        if (!o.save_users.empty()) kl::WriteUsersFile(o.save_users, world.users);
    }
    if (orders && world.users.empty()) {
        std::fprintf(stderr,
                     "keel-load: the order step needs users: --setup-users N or --users-file F "
                     "(or a --mix with order=0)\n");
        return 2;
    }
    const kl::RunResult result = kl::Run(world);
    if (!o.json.empty()) WriteFile(o.json, kl::ResultJson(o, result, setup ? &*setup : nullptr));
    if (!o.csv.empty()) WriteFile(o.csv, kl::TimelineCsv(result));
    if (!o.quiet) std::fputs(kl::Summary(o, result).c_str(), stderr);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"keel-load: load generator for keel (closed-loop shoppers or open-loop arrivals)"};
    kl::Options o;
    std::string mode = "closed", mix, scenario = "product", products, order_products;
    bool progress = false, no_progress = false;
    AddOptions(app, o, mode, mix, scenario, products, order_products, progress, no_progress);
    CLI11_PARSE(app, argc, argv);
    o.mode = mode == "open" ? kl::Mode::kOpen : kl::Mode::kClosed;
    o.scenario = scenario == "static" ? kl::Scenario::kStatic
                 : scenario == "mix"  ? kl::Scenario::kMix
                                      : kl::Scenario::kProduct;
    if (!mix.empty()) {
        auto parsed = kl::ParseMix(mix);
        if (!parsed) {
            std::fprintf(stderr, "keel-load: --mix: %s\n", parsed.error().c_str());
            return 2;
        }
        o.mix = *parsed;
    }
    o.product_ids = SplitIds(products);
    o.order_product_ids = SplitIds(order_products);
    if (progress) o.progress = true;
    if (no_progress) o.progress = false;
    if (o.setup_users > 0 && o.service_token.empty() != o.internal_url.empty()) {
        std::fprintf(
            stderr,
            "keel-load: --service-token and --internal-url go together (operator top-ups)\n");
        return 2;
    }
    try {
        return Main(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "keel-load: %s\n", e.what());
        return 1;
    }
}
