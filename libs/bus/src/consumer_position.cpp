#include <keel/bus/consumer_position.hpp>

namespace keel::bus {

namespace {

std::int64_t IntField(const boost::json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_number()) return 0;
    return v->is_double() ? static_cast<std::int64_t>(v->get_double())
                          : v->to_number<std::int64_t>();
}

}  // namespace

ConsumerPosition PositionFromInfo(const boost::json::object& info) {
    ConsumerPosition p;
    p.pending = IntField(info, "num_pending");
    p.ack_pending = IntField(info, "num_ack_pending");
    p.redelivered = IntField(info, "num_redelivered");
    if (const auto* delivered = info.if_contains("delivered");
        delivered != nullptr && delivered->is_object())
        p.last_delivered_seq = IntField(delivered->as_object(), "stream_seq");
    return p;
}

}  // namespace keel::bus
