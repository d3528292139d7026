#pragma once
#include <chrono>
#include <cstddef>

namespace keel::http {

/// Overload control at a server: decides, before any work, whether a request is taken now
/// or shed with 503 + Retry-After. The server asks it for every request except its own
/// probes (/healthz, /readyz, /metrics), which are never shed. Implemented by
/// keel::resilience::AdaptiveLimiter; thread-safe implementations only.
class AdmissionControl {
public:
    virtual ~AdmissionControl() = default;
    /// Takes a slot for one request that waited `queued` before the server could read it
    /// (from the gateway's X-Request-Start, trusted proxies only; 0 when unknown); false:
    /// shed it. Queueing shows there, not in handler latency, when the whole machine is out
    /// of CPU: a request served from memory takes microseconds once it is read.
    virtual bool TryAcquire(std::chrono::nanoseconds queued) = 0;
    /// The request admitted by TryAcquire has finished after `latency`. `counts` is false
    /// when its latency says nothing about the server's load (the client went away, the
    /// handler failed before doing work): the slot is freed without a sample.
    virtual void Release(std::chrono::nanoseconds latency, bool counts) = 0;
    /// The current concurrency limit and the requests admitted and not yet released.
    virtual std::size_t Limit() const = 0;
    virtual std::size_t InFlight() const = 0;
};

}  // namespace keel::http
