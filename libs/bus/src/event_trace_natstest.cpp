// Events continue the trace of the span that wrote them: the handler of each event runs in
// its own consumer span (a child of the writer's), across its co_awaits, in batches too.
#include <keel/bus/bus.hpp>
#include <keel/bus/nats.hpp>

#include <mutex>

#include <keel/core/ambient.hpp>
#include <keel/telemetry/trace.hpp>
#include <keel/testing/bus.hpp>
#include <keel/testing/coro_test.hpp>
#include <keel/testing/pg.hpp>
#include <keel/testing/servers.hpp>

namespace keel::bus {
namespace {
namespace json = boost::json;
using keel::testing::NatsServer;

constexpr const char* kTopic = "lab.ping.v1";
const std::string kTraceA = "0af7651916cd43dd8448eb211c80319c";
const std::string kTraceB = "4bf92f3577b34da6a3ce929d0e0e4736";

struct Seen {
    std::string ambient_trace;  // after the handler's co_await
    std::string ambient_span;
    std::string ambient_correlation;
    Event event;
};

Task<void> EmitFrom(Bus& bus, std::string correlation, std::string traceparent, int count) {
    auto origin = bus.FromRequest(correlation, traceparent, "test");
    auto body = [&](pg::Connection& c) -> Task<void> {
        for (int i = 0; i < count; ++i) {
            json::value ping = json::object{{"id", "p"}, {"n", i}, {"body", "x"}};
            co_await bus.Emit(c, kTopic, ping, origin);
        }
    };
    co_await bus.Transaction(body);
}

KEEL_CORO_TEST(EventTrace, EachHandlerRunsInItsEventsConsumerSpan) {
    auto pool = co_await keel::testing::FreshPool("bus_trace");
    {
        auto nats =
            Nats::Connect({{NatsServer::Shared().Url()}, "test", std::chrono::milliseconds(5000)});
        nats->ApiRequest("STREAM.PURGE.LAB", "");
    }
    const auto executor = co_await asio::this_coro::executor;
    auto bus = Bus::Create(executor, pool, keel::testing::TestBusSettings("trace"));
    bus->Publishes(kTopic);
    auto seen = std::make_shared<std::vector<Seen>>();
    auto mutex = std::make_shared<std::mutex>();
    EventHandler handler = [seen, mutex](pg::Connection& c, const Event& e) -> Task<void> {
        co_await c.Execute("SELECT 1");
        const ambient::Context* now = ambient::Current();
        std::lock_guard lock(*mutex);
        seen->push_back(Seen{now ? now->trace_id : "", now ? now->span_id : "",
                             now ? now->correlation_id : "", e});
    };
    bus->Subscribe(kTopic, handler);
    co_await bus->Start();
    // Two traces in the stream at once: batches hold events of both.
    co_await EmitFrom(*bus, "req-a", "00-" + kTraceA + "-b7ad6b7169203331-01", 20);
    co_await EmitFrom(*bus, "req-b", "00-" + kTraceB + "-00f067aa0ba902b7-01", 20);
    auto all = [seen, mutex]() -> Task<bool> {
        std::lock_guard lock(*mutex);
        co_return seen->size() >= 40;
    };
    EXPECT_TRUE(co_await keel::testing::WaitUntil(all));
    co_await bus->Stop();
    std::lock_guard lock(*mutex);
    for (const auto& s : *seen) {
        const bool a = s.event.envelope.correlation_id == "req-a";
        // The event carries the span that wrote it, unchanged.
        EXPECT_EQ(s.event.envelope.traceparent, a ? "00-" + kTraceA + "-b7ad6b7169203331-01"
                                                  : "00-" + kTraceB + "-00f067aa0ba902b7-01");
        EXPECT_EQ(s.ambient_trace, a ? kTraceA : kTraceB);
        EXPECT_EQ(s.ambient_correlation, a ? "req-a" : "req-b");
        // The handler's span is the event's consumer span, which events it writes carry.
        const auto next = telemetry::ParseTraceparent(s.event.next.traceparent);
        EXPECT_TRUE(next);
        EXPECT_EQ(s.ambient_span, next ? next->span_id : "?");
        EXPECT_NE(s.ambient_span, a ? "b7ad6b7169203331" : "00f067aa0ba902b7");
    }
}

}  // namespace
}  // namespace keel::bus
