#pragma once
// How events join traces: an event carries the traceparent of the span that wrote it (a
// request's server span, or the consumer span of the event it reacts to); its consumer
// opens a consumer span, child of that one, which is current while the handler runs.
#include <memory>
#include <string>
#include <string_view>

#include <keel/bus/bus.hpp>
#include <keel/core/ambient.hpp>

namespace keel::bus {

/// `traceparent` itself when valid, else the root of a new trace: the span that writes
/// events keeps its own id, so their consumers become its children.
std::string ContinueTraceparent(std::string_view traceparent);

/// The ambient context of handling `event`: its consumer span (event.next.traceparent) and
/// its correlation id. Null when the consumer span has no valid traceparent.
std::shared_ptr<const ambient::Context> AmbientOf(const Event& event);

/// Logs the consumer span line of one delivery handled (docs/observability.md) and
/// exports the span. `outcome`: processed, duplicate or failed.
void RecordConsumerSpan(const Event& event, const std::string& consumer, const char* outcome,
                        std::int64_t end_us);

}  // namespace keel::bus
