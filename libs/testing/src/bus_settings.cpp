#include <keel/bus/nats.hpp>
#include <keel/testing/bus.hpp>
#include <keel/testing/servers.hpp>

namespace keel::testing {

bus::BusSettings TestBusSettings(const std::string& service, const std::string& instance) {
    bus::BusSettings s;
    s.urls = {NatsServer::Shared().Url()};
    s.service = service;
    s.instance_id = instance.empty() ? service + "-1" : instance;
    s.relay_poll = std::chrono::milliseconds(50);
    s.stream_max_bytes = 64 << 20;
    return s;
}

std::shared_ptr<bus::Nats> TestNats() {
    return bus::Nats::Connect({{NatsServer::Shared().Url()}, "test", std::chrono::seconds(5)});
}

}  // namespace keel::testing
