#pragma once
#include <memory>
#include <string>

#include <keel/bus/bus.hpp>

namespace keel::testing {

/// Bus settings for a test against NatsServer::Shared(): instance `<service>-1` unless
/// given, a 50 ms relay poll, 64 MiB streams (the test server's file store is bounded).
bus::BusSettings TestBusSettings(const std::string& service, const std::string& instance = "");

/// A plain connection to NatsServer::Shared(), for what a test does beside the bus:
/// JetStream API requests, publishing raw messages, reading streams.
std::shared_ptr<bus::Nats> TestNats();

}  // namespace keel::testing
