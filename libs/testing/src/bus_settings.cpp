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

}  // namespace keel::testing
