#pragma once
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <keel/redis/client.hpp>

namespace keel::redis {

/// The channel Redis sends client-side-caching invalidations on (RESP2 redirect mode).
inline constexpr std::string_view kInvalidateChannel = "__redis__:invalidate";

struct SubscriberOptions {
    /// host, port, password; `timeout` bounds the connect, each setup command and the
    /// wait for an answer to a PING.
    ClientOptions connection;
    std::vector<std::string> channels;
    /// Non-empty: `CLIENT TRACKING on REDIRECT <own id> BCAST PREFIX ...` and a
    /// subscription to kInvalidateChannel, so that every change of a key under these
    /// prefixes, by any client, expiry or eviction, arrives as a message whose payload is
    /// the array of keys (nil: the whole keyspace, e.g. FLUSHALL).
    std::vector<std::string> tracking_prefixes;
    /// A PING after this long without traffic; no answer within `connection.timeout`
    /// counts as a lost connection (a frozen server or a silent network).
    std::chrono::milliseconds ping_interval{1000};
    std::chrono::milliseconds reconnect_min{50};  ///< first retry; doubles up to reconnect_max
    std::chrono::milliseconds reconnect_max{2000};
};

struct SubscriberHandlers {
    /// After every (re)subscription has been confirmed by the server: every message
    /// published from now on will be delivered.
    std::function<void()> on_subscribed;
    /// The connection is lost (or could not be set up): messages may have been missed
    /// until the next on_subscribed.
    std::function<void()> on_lost;
    /// A message on one of the channels (payload: a string, or an array/nil on
    /// kInvalidateChannel).
    std::function<void(const std::string& channel, const Reply& payload)> on_message;
};

/// One dedicated pub/sub connection that keeps itself subscribed: it reconnects with
/// backoff after any failure and says so through the handlers, which run one at a time
/// on the subscriber's strand. Start() it, Stop() it before its executor stops.
class Subscriber final : public std::enable_shared_from_this<Subscriber> {
public:
    static std::shared_ptr<Subscriber> Start(asio::any_io_executor executor,
                                             SubscriberOptions options,
                                             SubscriberHandlers handlers);
    Subscriber(asio::any_io_executor executor, SubscriberOptions options,
               SubscriberHandlers handlers);
    ~Subscriber();

    /// Closes the connection and ends the loop (no on_lost for it). Thread-safe.
    void Stop();
    bool Subscribed() const { return subscribed_.load(std::memory_order_acquire); }

private:
    Task<void> Loop();
    Task<void> Session();

    struct State;
    std::unique_ptr<State> state_;
    SubscriberOptions options_;
    SubscriberHandlers handlers_;
    std::atomic<bool> subscribed_{false};
};

}  // namespace keel::redis
