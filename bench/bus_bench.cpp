// keel-bench-bus: consumer throughput of one bus instance against the raw JetStream
// rate measured in the same run, on a nats-server and PostgreSQL of its own (free
// ports, temporary directories). Usage: keel-bench-bus [messages] [runs]
#include <nats/nats.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/object.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <keel/bus/bus.hpp>
#include <keel/bus/nats.hpp>
#include <keel/core/log.hpp>
#include <keel/core/uuid.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/servers.hpp>

namespace bus = keel::bus;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kTopic = "lab.ping.v1";

double Seconds(Clock::time_point since) {
    return std::chrono::duration<double>(Clock::now() - since).count();
}

void Check(natsStatus s, const char* what) {
    if (s != NATS_OK) {
        std::fprintf(stderr, "%s: %s\n", what, natsStatus_GetText(s));
        std::exit(1);
    }
}

void Purge(bus::Nats& nats, const std::string& stream) {
    nats.ApiRequest("STREAM.PURGE." + stream, "");
}

// Publishes `n` lab.ping.v1 events the way the relay does (envelope headers, msg id),
// asynchronously; returns messages/s.
double PublishEvents(bus::Nats& nats, int n) {
    const auto& codec = bus::Codec::Embedded();
    const std::string body(150, 'x');
    const auto start = Clock::now();
    for (int i = 0; i < n; ++i) {
        const boost::json::value payload =
            boost::json::object{{"id", "p"}, {"n", i}, {"body", body}};
        auto msg = bus::NewMsg(kTopic, codec.Encode(kTopic, payload));
        const auto id = keel::Uuid::V7().ToString();
        bus::SetHeader(msg.get(), bus::header::kEventId, id);
        bus::SetHeader(msg.get(), bus::header::kCorrelationId, id);
        bus::SetHeader(msg.get(), bus::header::kFingerprint, codec.Fingerprint(kTopic));
        bus::SetHeader(
            msg.get(), bus::header::kTrail,
            R"([{"service":"bench","instance":"bench-1","start_us":1,"duration_us":2,"tags":{}}])");
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MsgId = id.c_str();
        natsMsg* raw = msg.release();
        Check(js_PublishMsgAsync(nats.Js(), &raw, &po), "publish async");
    }
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = 60'000;
    Check(js_PublishAsyncComplete(nats.Js(), &wait), "publish complete");
    return n / Seconds(start);
}

// The minimal libnats client: fetch batches of 1000 from a durable and ack each.
double RawConsume(bus::Nats& nats, int n) {
    bus::ConsumerSpec spec;
    spec.durable = "bench-raw";
    spec.filter_subject = kTopic;
    nats.DeleteConsumer("LAB", spec.durable);
    nats.EnsureConsumer("LAB", spec);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = "LAB";
    so.Consumer = "bench-raw";
    natsSubscription* sub = nullptr;
    jsErrCode jerr{};
    Check(js_PullSubscribe(&sub, nats.Js(), kTopic, "bench-raw", nullptr, &so, &jerr),
          "pull subscribe");
    const auto start = Clock::now();
    int got = 0;
    while (got < n) {
        natsMsgList list{};
        const natsStatus s = natsSubscription_Fetch(&list, sub, 1000, 5000, &jerr);
        if (s == NATS_TIMEOUT) break;
        Check(s, "fetch");
        for (int i = 0; i < list.Count; ++i) natsMsg_Ack(list.Msgs[i], nullptr);
        got += list.Count;
        natsMsgList_Destroy(&list);
    }
    const double rate = got / Seconds(start);
    natsSubscription_Destroy(sub);
    nats.DeleteConsumer("LAB", "bench-raw");
    return rate;
}

bus::BusSettings Settings(const std::string& service, bool trail) {
    bus::BusSettings s;
    s.urls = {keel::testing::NatsServer::Shared().Url()};
    s.service = service;
    s.instance_id = service + "-1";
    s.record_trail = trail;
    s.stream_max_bytes = 2LL << 30;
    return s;
}

// One bus instance consuming `n` preloaded events; returns messages/s from Start to the last ack.
double BusConsume(asio::io_context& io, std::shared_ptr<keel::pg::Pool> pool,
                  const std::string& service, bool trail, int n) {
    auto b = bus::Bus::Create(io.get_executor(), pool, Settings(service, trail));
    std::atomic<int> seen{0};
    std::promise<void> all;
    bus::SubscribeOptions options;
    options.batch = 1000;
    options.workers = 2;
    if (pool) {
        bus::BatchHandler handler = [&](keel::pg::Connection& c,
                                        std::span<const bus::Event> events) -> keel::Task<void> {
            std::string ids = "{", ns = "{";
            for (const auto& e : events) {
                if (ids.size() > 1) ids += ",", ns += ",";
                ids += e.envelope.event_id;
                ns += std::to_string(e.payload.at("n").as_int64());
            }
            ids += "}", ns += "}";
            co_await c.Execute(
                "INSERT INTO effects (event_id, n) SELECT unnest($1::uuid[]), unnest($2::bigint[])",
                ids, ns);
            if ((seen += static_cast<int>(events.size())) == n) all.set_value();
        };
        b->Subscribe(kTopic, handler, options);
    } else {
        bus::PlainHandler handler = [&](std::span<const bus::Event> events) -> keel::Task<void> {
            if ((seen += static_cast<int>(events.size())) == n) all.set_value();
            co_return;
        };
        b->SubscribePlain(kTopic, handler, options);
    }
    const auto start = Clock::now();
    auto started = asio::co_spawn(io, b->Start(), asio::use_future);
    started.get();
    all.get_future().wait();
    const double rate = n / Seconds(start);
    asio::co_spawn(io, b->Stop(), asio::use_future).get();
    return rate;
}

// Runs one statement to completion from this (non-io) thread.
void Sql(asio::io_context& io, keel::pg::Pool& pool, std::string sql) {
    auto run = [](keel::pg::Pool& p, std::string text) -> keel::Task<void> {
        co_await p.Execute(text);
    };
    asio::co_spawn(io, run(pool, std::move(sql)), asio::use_future).get();
}

double Median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::atoi(argv[1]) : 200'000;
    const int runs = argc > 2 ? std::atoi(argv[2]) : 3;
    keel::log::Configure("bench", "bench-1", keel::log::Level::kWarn);
    auto& nats_server = keel::testing::NatsServer::Shared();
    auto nats = bus::Nats::Connect({{nats_server.Url()}, "bench", std::chrono::milliseconds(5000)});
    bus::StreamSpec lab;
    lab.name = "LAB";
    lab.subjects = {"lab.>"};
    lab.max_bytes = 2LL << 30;
    nats->EnsureStream(lab);

    asio::io_context io;
    auto guard = asio::make_work_guard(io);
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) threads.emplace_back([&] { io.run(); });

    keel::pg::PoolOptions pg;
    pg.max_size = 8;
    auto pool =
        asio::co_spawn(io, keel::testing::FreshPool("bench_bus", pg), asio::use_future).get();
    Sql(io, *pool, "CREATE TABLE effects (event_id uuid PRIMARY KEY, n bigint NOT NULL)");

    std::vector<double> publish, raw, trivial, trivial_trail, with_pg;
    for (int run = 0; run < runs; ++run) {
        Purge(*nats, "LAB");
        publish.push_back(PublishEvents(*nats, n));
        raw.push_back(RawConsume(*nats, n));
        trivial.push_back(BusConsume(io, nullptr, "bench" + std::to_string(run), false, n));
        trivial_trail.push_back(
            BusConsume(io, nullptr, "benchtrail" + std::to_string(run), true, n));
        Sql(io, *pool, "TRUNCATE effects");
        with_pg.push_back(BusConsume(io, pool, "benchpg" + std::to_string(run), false, n));
        std::fprintf(stderr,
                     "run %d: publish %.0f, raw %.0f, trivial %.0f, +trail %.0f, pg %.0f msg/s\n",
                     run + 1, publish.back(), raw.back(), trivial.back(), trivial_trail.back(),
                     with_pg.back());
    }
    const double base = Median(raw);
    std::printf(
        "| what (%d messages, median of %d) | messages/s | vs raw consume |\n|---|---:|---:|\n", n,
        runs);
    std::printf("| raw JetStream async publish (libnats) | %.0f | %.2f |\n", Median(publish),
                Median(publish) / base);
    std::printf("| raw JetStream fetch 1000 + ack each (libnats) | %.0f | 1.00 |\n", base);
    std::printf("| bus consumer, trivial handler (decode, hop, ack) | %.0f | %.2f |\n",
                Median(trivial), Median(trivial) / base);
    std::printf("| bus consumer, trivial handler + trail records | %.0f | %.2f |\n",
                Median(trivial_trail), Median(trivial_trail) / base);
    std::printf(
        "| bus consumer, PostgreSQL transaction per batch (inbox + insert) | %.0f | %.2f |\n",
        Median(with_pg), Median(with_pg) / base);
    guard.reset();
    io.stop();
    for (auto& t : threads) t.join();
    return 0;
}
