#pragma once
#include <cstdint>

#include <boost/json/object.hpp>

namespace keel::bus {

/// How far a durable consumer stands behind its stream, as JetStream counts it.
struct ConsumerPosition {
    std::int64_t pending = 0;      // matching messages not yet delivered
    std::int64_t ack_pending = 0;  // delivered and not yet acknowledged
    std::int64_t redelivered = 0;
    std::int64_t last_delivered_seq = 0;  // stream sequence
    /// What the consumer still has to finish: pending + ack_pending.
    std::int64_t Lag() const { return pending + ack_pending; }
};

/// Reads a consumer info object (CONSUMER.INFO answer, or an entry of CONSUMER.LIST);
/// fields that are absent or not numbers read as 0.
ConsumerPosition PositionFromInfo(const boost::json::object& info);

}  // namespace keel::bus
