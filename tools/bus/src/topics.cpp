#include <keel/bus/codec.hpp>

#include "commands.hpp"
#include "errors.hpp"

namespace keel::bus_tool {

void RequireTopic(const std::string& topic) {
    const auto& codec = bus::Codec::Embedded();
    if (codec.Has(topic)) return;
    std::string known;
    for (const auto& t : codec.Topics()) known += "\n  " + t;
    throw UsageError("unknown topic \"" + topic + "\"; the topics are:" + known);
}

}  // namespace keel::bus_tool
